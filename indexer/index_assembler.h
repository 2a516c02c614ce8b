// Turns a merged FsTree whose file contents are chunked and stored into a serialized image
// index: numbers inodes, lays chunks out into packs, and computes each pack's digest from the
// stored chunk bytes.
// Thread-safety: runs on its calling thread (packs are read and hashed on up to three helper
// threads it starts and joins); safe to call concurrently for different trees.
#pragma once

#include <string>

#include "core/chunk_store.h"
#include "core/image_index.h"
#include "indexer/fs_tree.h"

namespace imgfs::indexer {

struct PackingOptions {
  // Packs are cut once they reach this many stored bytes. Large enough that one ranged request
  // fetches a start-up's working set, small enough to keep per-pack uploads bounded.
  uint64_t target_pack_size = 32u << 20;
};

struct TreeCounts {
  uint64_t files = 0, dirs = 0, symlinks = 0, others = 0;  // inodes, hardlinks counted once
  uint64_t hardlinked_entries = 0;                         // entries beyond the first link
  uint64_t file_bytes = 0;                                 // sum of regular-file sizes
};

// Lays `records` (digest and length set) out into packs in the order given, sizing each chunk
// by its stored length and hashing each pack from the chunks' stored forms in `chunks` (packs
// in parallel); fills in stored_length, pack and pack_offset, and adds the packs and then the
// chunks to `writer` in that order.
Status LayOutPacks(std::vector<ChunkRecord>& records, ChunkSource& chunks,
                   const PackingOptions& options, ImageIndexWriter& writer);

// Chunks are laid out in packs in the order files are first met in a depth-first walk of the
// tree (names in byte order).
// REQUIRES: every FileContent in the tree is complete (ContentWriter::Finish returned OK) and
// every chunk is in `chunks`.
Result<std::string> AssembleIndex(const FsTree& tree, ChunkSource& chunks,
                                  const std::string& metadata_json, const PackingOptions& options,
                                  TreeCounts* counts);

}  // namespace imgfs::indexer
