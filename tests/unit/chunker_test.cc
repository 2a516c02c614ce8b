#include "core/chunker.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <vector>

#include "core/chunk_codec.h"

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
