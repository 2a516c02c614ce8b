// How one chunk's bytes are stored: zstd-compressed, or raw when zstd does not make them
// smaller. The stored form is what packs concatenate and what the local store keeps; a reader
// tells the two apart by length alone (stored length == raw length means raw).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/digest.h"
#include "core/status.h"

namespace imgfs {

// Level 1: twice as fast as 3 on image content for ~5% larger chunks (docs/BENCHMARKS.md);
// conversion throughput is the tighter budget.
inline constexpr int kChunkZstdLevel = 1;
// At kChunkZstdLevel, zstd's match finder uses a table of 2^12 entries instead of its 2^13 for
// inputs this size: 8% less compression time for 1% larger chunks on a Debian image (a chunk is
// at most 256 KiB, so the smaller table misses few matches). A compressor-side choice only: any
// zstd decoder reads the result.
inline constexpr int kChunkZstdHashLog = 12;

// Returns the stored form of `raw`. Thread-safe.
std::string EncodeChunk(std::span<const uint8_t> raw, int level = kChunkZstdLevel);

// The same without an allocation per chunk: returns a view of `*scratch` (compressed) or of
// `raw` itself (stored raw), valid while both are unchanged. `*scratch` keeps its capacity
// between calls, so a caller encoding many chunks reuses one buffer. Thread-safe.
std::string_view EncodeChunk(std::span<const uint8_t> raw, std::string* scratch,
                             int level = kChunkZstdLevel);

// Decodes a stored chunk into `out` (resized to raw_length) and checks that its SHA-256 equals
// `digest`. Corruption if it does not decode to exactly raw_length bytes or the digest differs.
Status DecodeChunk(std::string_view stored, uint32_t raw_length, const Digest& digest,
                   std::string* out);

// Decodes without the SHA-256 check, for local copies already guarded by a checksum (XXH3 in
// the local store). Corruption if it does not decode to exactly raw_length bytes.
Status DecompressChunk(std::string_view stored, uint32_t raw_length, std::string* out);

}  // namespace imgfs
