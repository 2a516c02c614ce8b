#include "core/chunker.h"

#include <array>
#include <bit>

namespace imgfs {
namespace {

// 256 pseudo-random 64-bit values (splitmix64 from a fixed seed): part of the format, since
// changing them changes every cut point and so every chunk address.
constexpr std::array<uint64_t, 256> MakeGearTable() {
  std::array<uint64_t, 256> table{};
  uint64_t x = 0x696d67667363646bULL;  // "imgfscdk"
  for (auto& v : table) {
    x += 0x9e3779b97f4a7c15ULL;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    v = z ^ (z >> 31);
  }
  return table;
}
constexpr std::array<uint64_t, 256> kGear = MakeGearTable();

// A mask of `bits` ones in the top bits of the fingerprint, which depend on the last 64 bytes.
constexpr uint64_t TopMask(int bits) { return bits <= 0 ? 0 : ~0ULL << (64 - bits); }

}  // namespace

size_t NextChunkLength(std::span<const uint8_t> data, const ChunkerParams& params) {
  size_t n = data.size() < params.max_size ? data.size() : params.max_size;
  if (n <= params.min_size) return n;
  size_t normal = params.avg_size < n ? params.avg_size : n;
  int avg_bits = std::countr_zero(params.avg_size);
  // Normalized chunking, level 2: harder to cut before the average, easier after.
  const uint64_t mask_small = TopMask(avg_bits + 2);
  const uint64_t mask_large = TopMask(avg_bits - 2);

  uint64_t fp = 0;
  size_t i = params.min_size;
  const uint8_t* p = data.data();
  for (; i < normal; ++i) {
    fp = (fp << 1) + kGear[p[i]];
    if ((fp & mask_small) == 0) return i + 1;
  }
  for (; i < n; ++i) {
    fp = (fp << 1) + kGear[p[i]];
    if ((fp & mask_large) == 0) return i + 1;
  }
  return n;
}

}  // namespace imgfs
