// Test helpers that build what an attacker would: image indexes that are self-consistent (a
// correct checksum and size field, so only the structural checks of docs/index-format.md can
// refuse them) but lie. Header-only, no test framework: shared by the unit tests, the fuzzers
// and the mount tests' index tool.
#pragma once

#include <cstdint>
#include <string>

#include "core/byte_io.h"
#include "core/digest.h"

namespace imgfs::testing {

// Byte layout (docs/index-format.md): the header's section table starts at byte 24, 16 bytes
// (offset, count) per section; the chunk table is section 5, 56-byte records, digest first.
inline constexpr size_t kChunkTableEntry = 24 + 5 * 16;
inline constexpr size_t kChunkRecordSize = 56;

// Sets the trailer to the XXH3-64 of everything before it, as a writer would.
inline void FixIndexChecksum(std::string& index) {
  auto* p = reinterpret_cast<uint8_t*>(index.data());
  StoreU64(p + index.size() - 8, Xxh3(index.data(), index.size() - 8));
}

// Gives chunk record `chunk` of a serialized index the digest `digest`, checksum fixed.
// REQUIRES: `index` is a valid index with more than `chunk` chunks.
inline std::string WithChunkDigest(std::string index, uint32_t chunk, const Digest& digest) {
  auto* p = reinterpret_cast<uint8_t*>(index.data());
  const uint64_t table = LoadU64(p + kChunkTableEntry);
  uint8_t* record = p + table + uint64_t{chunk} * kChunkRecordSize;
  for (size_t i = 0; i < digest.bytes.size(); ++i) record[i] = digest.bytes[i];
  FixIndexChecksum(index);
  return index;
}

}  // namespace imgfs::testing
