// LayerStream's gzip path (ISA-L igzip): multi-member streams at every buffer alignment (igzip
// reads past a member's end; those bytes must come back), and the damaged streams it must refuse.
// Every stream's two digests are checked too: they are computed from the stream's own buffers,
// which small buffer sizes recycle many times over.
#include "indexer/decompress.h"

#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <random>
#include <string>
#include <vector>

namespace imgfs::indexer {
namespace {

std::string Gzip(const std::string& data, int level = 6) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string Random(size_t n, unsigned seed, bool compressible) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(compressible ? 'a' + rng() % 4 : rng());
  return s;
}

Result<std::string> Inflate(const std::string& blob, size_t buffer_size,
                            oci::Compression compression = oci::Compression::kGzip) {
  auto bytes = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(blob.data()), blob.size());
  LayerStream stream(std::make_unique<MemorySource>(bytes), compression, {}, buffer_size);
  std::string out;
  while (true) {
    ASSIGN_OR_RETURN(auto piece, stream.Next());
    if (piece.empty()) break;
    out.append(reinterpret_cast<const char*>(piece.data()), piece.size());
  }
  ASSIGN_OR_RETURN(LayerStreamStats stats, stream.Finish());
  EXPECT_EQ(stats.compressed_bytes, blob.size());
  EXPECT_EQ(stats.uncompressed_bytes, out.size());
  EXPECT_EQ(stats.compressed_digest, Sha256(blob));
  EXPECT_EQ(stats.uncompressed_digest, Sha256(out));
  return out;
}

TEST(GzipStream, MultiMemberAtEveryAlignment) {
  // Members of different kinds (stored, tiny, compressible, incompressible), so member ends
  // fall at many offsets within the read buffer.
  std::vector<std::string> parts = {Random(3000, 1, true), "", Random(70, 2, false),
                                    Random(5000, 3, false), Random(1, 4, true)};
  std::string blob, want;
  for (size_t i = 0; i < parts.size(); ++i) {
    blob += Gzip(parts[i], i == 3 ? 0 : 6);
    want += parts[i];
  }
  for (size_t buffer : {64, 65, 67, 100, 128, 509, 4096, 1 << 20}) {
    Result<std::string> got = Inflate(blob, buffer);
    ASSERT_TRUE(got.ok()) << "buffer " << buffer << ": " << got.status().ToString();
    EXPECT_EQ(*got, want) << "buffer " << buffer;
  }
}

TEST(LayerStreamTest, ZstdAndPlainStreamsAndTheirDigests) {
  const std::string data = Random(300000, 6, true) + Random(50000, 7, false);
  std::string zst(ZSTD_compressBound(data.size()), '\0');
  zst.resize(ZSTD_compress(zst.data(), zst.size(), data.data(), data.size(), 3));
  for (size_t buffer : {64, 4096, 1 << 20}) {
    Result<std::string> got = Inflate(zst, buffer, oci::Compression::kZstd);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, data);
    got = Inflate(data, buffer, oci::Compression::kNone);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, data);
  }
}

TEST(GzipStream, RefusesDamage) {
  const std::string data = Random(20000, 5, true);
  const std::string good = Gzip(data);
  ASSERT_TRUE(Inflate(good, 64).ok());
  std::string truncated = good.substr(0, good.size() - 5);
  std::string bad_crc = good;
  bad_crc[bad_crc.size() - 6] ^= 1;  // the CRC-32 in the trailer
  std::string garbage = good + "xyz";
  std::string corrupt = good;
  corrupt[20] ^= 0x55;
  for (const auto& [name, blob] :
       std::vector<std::pair<std::string, std::string>>{{"truncated", truncated},
                                                        {"bad crc", bad_crc},
                                                        {"garbage", garbage},
                                                        {"corrupt", corrupt},
                                                        {"empty", ""}}) {
    for (size_t buffer : {64, 1 << 20}) {
      Result<std::string> got = Inflate(blob, buffer);
      EXPECT_FALSE(got.ok() && *got == data) << name << " buffer " << buffer;
      if (!got.ok()) {
        EXPECT_EQ(got.status().code(), Code::kCorruption) << name;
      }
    }
  }
}

}  // namespace
}  // namespace imgfs::indexer
