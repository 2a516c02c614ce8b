// Re-lays an image's chunks into new packs so that the chunks a start-up reads (its access
// trace, in read order) come first and contiguously: a handful of large range requests then
// fetch a cold start's working set. The tree is unchanged; only the chunk table and packs differ,
// so the result is a new index with a new digest.
// Thread-safety: runs on its calling thread; reads the ChunkSource from that thread only.
#pragma once

#include <string>
#include <vector>

#include "core/chunk_store.h"
#include "core/image_index.h"
#include "indexer/index_assembler.h"

namespace imgfs::indexer {

// `first`: chunk digests in the order they should lead; digests the image does not have are
// ignored, and every other chunk follows in its previous order.
Result<std::string> RepackIndex(const ImageIndex& index, const std::vector<Digest>& first,
                                ChunkSource& chunks, const PackingOptions& options);

}  // namespace imgfs::indexer
