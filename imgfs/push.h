// Pushing an image from the local store to a remote store (imgfs/remote_store.h).
//
// The local store keeps chunks, not packs; a pack is rebuilt byte for byte from the stored forms
// of its chunks at the offsets the index gives (docs/index-format.md). Every chunk is decoded and
// checked against its SHA-256, and the rebuilt pack against the PackRecord's SHA-256 and size,
// before a single byte of it is uploaded: a remote never receives a blob under a wrong address.
//
// Order: packs (those the remote already has are skipped), then the index blob, then the trace.
// The index goes last so that a remote never holds an index whose packs are missing; a push cut
// short leaves only unreferenced packs, and pushing again resumes where it stopped.
// Memory: one pack (~32 MiB) per upload running at once (PushOptions::parallel_packs).
#pragma once

#include <cstdint>
#include <string>

#include "core/chunk_store.h"
#include "core/image_index.h"
#include "core/status.h"
#include "imgfs/remote_store.h"

namespace imgfs::remote {

struct PushStats {
  uint64_t packs_uploaded = 0;
  uint64_t packs_skipped = 0;  // the remote had them already
  uint64_t pack_bytes_uploaded = 0;
  uint64_t pack_bytes_skipped = 0;
  bool index_uploaded = false;  // false: the remote had it already
  uint64_t index_bytes = 0;
  // The index as one zstd frame (remote_store.h), what readers fetch first.
  bool compressed_index_uploaded = false;  // false: the remote had it already
  uint64_t compressed_index_bytes = 0;     // 0 when not uploaded
  bool trace_uploaded = false;
  uint64_t trace_bytes = 0;
};

// Packs larger than this are refused (ResourceExhausted) rather than held in memory; the
// indexer cuts packs at ~32 MiB plus at most one chunk.
inline constexpr uint64_t kMaxPushPackSize = 256ull << 20;

// Uploads `index`'s packs, then the index, then its compressed form, then `*trace_or_null` (if
// not null) as its trace.
// `local` provides every chunk of every pack the remote lacks. Errors name the pack or chunk:
// NotFound or Corruption for a missing or damaged local chunk, the remote's status otherwise.
// `stats` may be null; it is filled as far as the push went, also on error.
// Thread-compatible: one push per call; `local` and `remote` may be shared with other threads.
Status PushImage(const ImageIndex& index, ChunkSource& local, RemoteStore& remote,
                 const std::string* trace_or_null, PushStats* stats);

struct PushOptions {
  // Packs checked, rebuilt and uploaded at once, each on its own thread (1: in order, on the
  // calling thread). The index still goes up only after every pack.
  unsigned parallel_packs = 1;
};
Status PushImage(const ImageIndex& index, ChunkSource& local, RemoteStore& remote,
                 const std::string* trace_or_null, PushStats* stats, const PushOptions& options);

}  // namespace imgfs::remote
