#include "core/chunker.h"

#include <gtest/gtest.h>

#include <bit>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "core/chunk_codec.h"
#include "core/digest.h"

namespace imgfs {
namespace {

std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

std::vector<size_t> Cut(std::span<const uint8_t> data, const ChunkerParams& p) {
  std::vector<size_t> cuts;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t n = NextChunkLength(data.subspan(pos), p);
    cuts.push_back(n);
    pos += n;
  }
  return cuts;
}

// Cut points are part of the format (they decide every chunk address): these are what
// fastcdc-gear-v1 gives on a fixed input, random bytes with a repetitive stretch.
TEST(ChunkerTest, CutPointsAreStable) {
  std::mt19937 rng(42);
  std::vector<uint8_t> v(16 << 20);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  for (size_t i = 8 << 20; i < (10 << 20); ++i)
    v[i] = static_cast<uint8_t>(i % 251 < 7 ? rng() : 'a' + i % 5);
  for (auto [p, count, digest] :
       {std::tuple{ChunkerParams{}, size_t{221},
                   "9d2e645666c8e0dc890cd771045a9334ed5ab71b463ce228ef47d4bbc475b718"},
        std::tuple{ChunkerParams{4096, 16384, 65536}, size_t{853},
                   "3190e7d9b08ca920f12b1a58a2c17b9ad39f6f2c79fc022bb2ae48331c643aca"}}) {
    std::string lengths;
    std::vector<size_t> cuts = Cut(v, p);
    for (size_t n : cuts) lengths += std::to_string(n) + ",";
    EXPECT_EQ(cuts.size(), count) << p.avg_size;
    EXPECT_EQ(Sha256(lengths).Hex(), digest) << p.avg_size;
  }
}

// The definition, one byte at a time (FastCDC with normalized chunking, level 2).
size_t ReferenceNextChunkLength(std::span<const uint8_t> data, const ChunkerParams& params,
                                const std::vector<uint64_t>& gear) {
  size_t n = std::min<size_t>(data.size(), params.max_size);
  if (n <= params.min_size) return n;
  size_t normal = std::min<size_t>(params.avg_size, n);
  int bits = std::countr_zero(params.avg_size);
  const uint64_t small = ~0ULL << (64 - (bits + 2)), large = ~0ULL << (64 - (bits - 2));
  uint64_t fp = 0;
  for (size_t i = params.min_size; i < n; ++i) {
    fp = (fp << 1) + gear[data[i]];
    if ((fp & (i < normal ? small : large)) == 0) return i + 1;
  }
  return n;
}

// The chunker's table, rebuilt as core/chunker.cc builds it (splitmix64 from "imgfscdk").
std::vector<uint64_t> GearTable() {
  std::vector<uint64_t> table(256);
  uint64_t x = 0x696d67667363646bULL;
  for (auto& v : table) {
    x += 0x9e3779b97f4a7c15ULL;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    v = z ^ (z >> 31);
  }
  return table;
}

// The chunker equals the one-byte-at-a-time definition for every window length around its
// bounds and for several parameter sets, on random and on repetitive bytes.
TEST(ChunkerTest, EqualsTheDefinition) {
  const std::vector<uint64_t> gear = GearTable();
  std::mt19937 rng(3);
  for (ChunkerParams p : {ChunkerParams{}, ChunkerParams{4096, 16384, 65536},
                          ChunkerParams{1000, 4096, 9000}, ChunkerParams{64, 256, 1024}}) {
    for (int round = 0; round < 300; ++round) {
      std::vector<uint8_t> data(rng() % (p.max_size + 64));
      const bool repetitive = round % 3 == 0;
      for (size_t i = 0; i < data.size(); ++i)
        data[i] = static_cast<uint8_t>(repetitive && rng() % 64 ? 'a' + i % 3 : rng());
      ASSERT_EQ(NextChunkLength(data, p), ReferenceNextChunkLength(data, p, gear))
          << "avg " << p.avg_size << " size " << data.size() << " round " << round;
    }
  }
}

TEST(ChunkerTest, RespectsBoundsAndAverage) {
  ChunkerParams p;
  auto data = RandomBytes(32 << 20, 1);
  auto cuts = Cut(data, p);
  size_t total = 0;
  for (size_t i = 0; i < cuts.size(); ++i) {
    total += cuts[i];
    EXPECT_LE(cuts[i], p.max_size);
    if (i + 1 < cuts.size()) {
      EXPECT_GE(cuts[i], p.min_size);
    }
  }
  EXPECT_EQ(total, data.size());
  double avg = static_cast<double>(data.size()) / cuts.size();
  EXPECT_GT(avg, p.avg_size * 0.6);
  EXPECT_LT(avg, p.avg_size * 1.6);
}

TEST(ChunkerTest, InsertionShiftsOnlyNearbyChunks) {
  // The point of content-defined chunking: an insertion near the start leaves later chunks
  // identical, so they dedup.
  ChunkerParams p;
  auto data = RandomBytes(8 << 20, 2);
  std::vector<uint8_t> shifted(data.begin(), data.begin() + 1000);
  shifted.push_back(42);
  shifted.insert(shifted.end(), data.begin() + 1000, data.end());
  auto chunks_of = [&](const std::vector<uint8_t>& d) {
    std::set<Digest> out;
    size_t pos = 0;
    for (size_t n : Cut(d, p)) {
      out.insert(Sha256(d.data() + pos, n));
      pos += n;
    }
    return out;
  };
  auto a = chunks_of(data), b = chunks_of(shifted);
  size_t common = 0;
  for (const auto& d : a) common += b.count(d);
  EXPECT_GE(common + 3, a.size());
}

TEST(ChunkerTest, SmallInputIsOneChunk) {
  ChunkerParams p;
  auto data = RandomBytes(1000, 3);
  EXPECT_EQ(NextChunkLength(data, p), 1000u);
}

TEST(ChunkCodecTest, CompressesAndVerifies) {
  std::string text(100000, 'a');
  std::span<const uint8_t> raw(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  std::string stored = EncodeChunk(raw);
  EXPECT_LT(stored.size(), text.size());
  std::string out;
  Digest d = Sha256(text);
  ASSERT_TRUE(DecodeChunk(stored, text.size(), d, &out).ok());
  EXPECT_EQ(out, text);
  // Wrong digest, wrong length, flipped byte: never returns bytes as good.
  EXPECT_FALSE(DecodeChunk(stored, text.size(), Sha256("x"), &out).ok());
  EXPECT_FALSE(DecodeChunk(stored, text.size() + 1, d, &out).ok());
  std::string bad = stored;
  bad[bad.size() / 2] ^= 1;
  EXPECT_FALSE(DecodeChunk(bad, text.size(), d, &out).ok());
}

TEST(ChunkCodecTest, IncompressibleIsStoredRaw) {
  auto data = RandomBytes(65536, 4);
  std::string stored = EncodeChunk(data);
  EXPECT_EQ(stored.size(), data.size());
  std::string out;
  EXPECT_TRUE(DecodeChunk(stored, data.size(), Sha256(data.data(), data.size()), &out).ok());
}

}  // namespace
}  // namespace imgfs
