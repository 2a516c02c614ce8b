// Content-defined chunking (FastCDC, Xia et al., USENIX ATC'16, with normalized chunking).
//
// Cut points depend only on the bytes near them, so the same content in different files, layers
// or images is cut into the same chunks and stored once. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace imgfs {

struct ChunkerParams {
  // Chosen by measurement on a Debian image family (docs/BENCHMARKS.md, "Chunk size"):
  // smaller averages dedup slightly better but multiply per-chunk costs (index entries, store
  // records, fetch requests).
  uint32_t min_size = 16 * 1024;
  uint32_t avg_size = 64 * 1024;  // a power of two
  uint32_t max_size = 256 * 1024;
};

// The largest chunk any params here may produce; readers use it to bound allocations.
inline constexpr uint32_t kMaxChunkSize = 16u << 20;

// Returns the length of the chunk that starts at data[0]: in [1, data.size()] and at most
// params.max_size. When data.size() < params.max_size and more bytes follow in the stream, the
// caller must supply them first unless this is the end of the stream; the result is only a
// content-defined cut when the window held max_size bytes or reached the stream's end.
size_t NextChunkLength(std::span<const uint8_t> data, const ChunkerParams& params);

}  // namespace imgfs
