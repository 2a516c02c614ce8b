#include "core/zstd_frame.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <random>
#include <string>

namespace imgfs {
namespace {

std::string Sample(size_t n) {
  std::mt19937 rng(7);
  std::string s;
  while (s.size() < n) s += "chunk " + std::to_string(rng() % 1000) + ";";
  s.resize(n);
  return s;
}

TEST(ZstdFrameTest, RoundTripsAndShrinks) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{4096}, size_t{3} << 20}) {
    const std::string raw = Sample(n);
    const std::string frame = CompressFrame(raw, kIndexFrameZstdLevel);
    if (n >= 4096) {
      EXPECT_LT(frame.size(), raw.size() / 2) << n;
    }
    Result<std::string> back = DecompressFrame(frame, n);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, raw);
  }
}

TEST(ZstdFrameTest, RefusesMoreThanTheBoundBeforeDecoding) {
  const std::string frame = CompressFrame(std::string(1 << 20, 'x'), 3);
  Result<std::string> r = DecompressFrame(frame, (1 << 20) - 1);
  EXPECT_EQ(r.status().code(), Code::kResourceExhausted);
  EXPECT_TRUE(DecompressFrame(frame, 1 << 20).ok());
}

TEST(ZstdFrameTest, RefusesDamagedFrames) {
  const std::string raw = Sample(100000);
  const std::string frame = CompressFrame(raw, 3);
  EXPECT_EQ(DecompressFrame(frame.substr(0, frame.size() - 1), 1 << 20).status().code(),
            Code::kCorruption);
  EXPECT_EQ(DecompressFrame(frame + "x", 1 << 20).status().code(), Code::kCorruption);
  EXPECT_EQ(DecompressFrame("not zstd at all", 1 << 20).status().code(), Code::kCorruption);
  EXPECT_EQ(DecompressFrame("", 1 << 20).status().code(), Code::kCorruption);
  // A frame whose size field is a lie: one that says a byte less than it holds.
  std::string lying = CompressFrame(std::string(200, 'a'), 3);
  ASSERT_EQ(ZSTD_getFrameContentSize(lying.data(), lying.size()), 200u);
  ASSERT_EQ(static_cast<uint8_t>(lying[5]), 200u);  // magic, descriptor, then the 1-byte size
  lying[5] = static_cast<char>(199);
  ASSERT_EQ(ZSTD_getFrameContentSize(lying.data(), lying.size()), 199u);
  EXPECT_EQ(DecompressFrame(lying, 1 << 20).status().code(), Code::kCorruption);
}

TEST(ZstdFrameTest, RefusesAFrameWithoutItsSize) {
  // What a streaming compressor writes when it does not know the size up front.
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
  std::string out(ZSTD_compressBound(1000), '\0');
  const std::string in(1000, 'q');
  size_t n = ZSTD_compress2(cctx, out.data(), out.size(), in.data(), in.size());
  ZSTD_freeCCtx(cctx);
  ASSERT_FALSE(ZSTD_isError(n));
  out.resize(n);
  ASSERT_EQ(ZSTD_getFrameContentSize(out.data(), out.size()), ZSTD_CONTENTSIZE_UNKNOWN);
  EXPECT_EQ(DecompressFrame(out, 1 << 20).status().code(), Code::kCorruption);
}

}  // namespace
}  // namespace imgfs
