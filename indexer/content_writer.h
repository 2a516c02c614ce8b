// Where layer application sends regular-file content: it cuts the bytes into chunks, stores them
// (deduplicated) and fills in the file's chunk list.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "core/status.h"
#include "indexer/fs_tree.h"

namespace imgfs::indexer {

// A pull-based byte stream (a tar entry's data, a file on disk).
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to buf.size() bytes; returns 0 only at the end of the stream.
  virtual Result<size_t> Read(std::span<uint8_t> buf) = 0;
};

class ContentWriter {
 public:
  virtual ~ContentWriter() = default;
  // Consumes exactly `size` bytes from `src` (an error if the stream ends early) and returns the
  // file's content, whose chunk list may still be filling in on worker threads.
  // REQUIRES: called from one thread at a time.
  virtual Result<std::shared_ptr<FileContent>> AddFile(ByteSource& src, uint64_t size) = 0;
  // Waits for all chunk work; after OK every FileContent returned is complete.
  virtual Status Finish() = 0;
};

}  // namespace imgfs::indexer
