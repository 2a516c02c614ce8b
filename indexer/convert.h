// `imgfs convert`: reads an image, chunks and stores its file contents, and assembles its image
// index. Publishing the index under a name is the caller's step (it needs the local store), so a
// failed conversion publishes nothing; chunks it stored are unreferenced until GC removes them.
#pragma once

#include <memory>
#include <string>

#include "core/chunk_store.h"
#include "core/chunker.h"
#include "core/image_index.h"
#include "indexer/chunking_writer.h"
#include "indexer/image_builder.h"
#include "indexer/index_assembler.h"

namespace imgfs::indexer {

struct ConvertOptions {
  BuildOptions build;
  ChunkerParams chunker;
  PackingOptions packing;
  unsigned threads = 0;  // chunk workers; 0 = one per core
};

struct ConvertResult {
  std::shared_ptr<const ImageIndex> index;
  ImageBuildInfo image;
  ChunkingStats chunking;
  TreeCounts tree;
  double seconds = 0;
};

Result<ConvertResult> ConvertImage(std::string_view source, const ConvertOptions& options,
                                   ChunkStore& store);

}  // namespace imgfs::indexer
