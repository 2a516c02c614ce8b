#include "core/oci_image.h"

#include <gtest/gtest.h>

namespace imgfs {
namespace {

const char kDigest[] = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string ManifestJson(const std::string& layer_digest, const std::string& size = "10") {
  return std::string(
             R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)") +
         R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
         kDigest +
         R"(","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip",)" +
         R"("digest":")" + layer_digest + R"(","size":)" + size + "}]}";
}

TEST(OciImageTest, ParsesManifest) {
  auto m = oci::ParseManifest(ManifestJson(kDigest), 1 << 20);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->layers.size(), 1u);
  EXPECT_EQ(m->layers[0].size, 10);
  EXPECT_EQ(m->layers[0].digest.ToString(), kDigest);
  EXPECT_EQ(*oci::LayerCompression(m->layers[0].media_type), oci::Compression::kGzip);
}

TEST(OciImageTest, RejectsBadManifests) {
  EXPECT_FALSE(oci::ParseManifest(ManifestJson("sha512:abcd"), 1 << 20).ok());
  EXPECT_FALSE(oci::ParseManifest(ManifestJson("sha256:xyz"), 1 << 20).ok());
  EXPECT_FALSE(oci::ParseManifest(ManifestJson(kDigest, "-1"), 1 << 20).ok());
  EXPECT_FALSE(oci::ParseManifest(ManifestJson(kDigest, "\"10\""), 1 << 20).ok());
  EXPECT_FALSE(oci::ParseManifest("{", 1 << 20).ok());
  EXPECT_FALSE(oci::ParseManifest("[]", 1 << 20).ok());
  EXPECT_FALSE(oci::ParseManifest(R"({"schemaVersion":1})", 1 << 20).ok());
  auto big = oci::ParseManifest(ManifestJson(kDigest), 64);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), Code::kResourceExhausted);
}

TEST(OciImageTest, ParsesIndexWithPlatforms) {
  std::string json = std::string(R"({"schemaVersion":2,"manifests":[{"mediaType":)") +
                     R"("application/vnd.oci.image.manifest.v1+json","digest":")" + kDigest +
                     R"(","size":5,"platform":{"os":"linux","architecture":"arm64"},)" +
                     R"("annotations":{"org.opencontainers.image.ref.name":"v1"}}]})";
  auto index = oci::ParseIndex(json, 1 << 20);
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  ASSERT_EQ(index->manifests.size(), 1u);
  EXPECT_EQ(index->manifests[0].annotations.at(std::string(oci::kRefNameAnnotation)), "v1");
  EXPECT_TRUE(index->manifests[0].platform->Matches(*oci::Platform::Parse("linux/arm64/v8")));
  EXPECT_FALSE(index->manifests[0].platform->Matches(*oci::Platform::Parse("linux/amd64")));
}

TEST(OciImageTest, ParsesConfig) {
  std::string json =
      std::string(R"({"os":"linux","architecture":"amd64","rootfs":{"type":"layers",)") +
      R"("diff_ids":[")" + kDigest + R"("]}})";
  auto c = oci::ParseConfig(json, 1 << 20);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->diff_ids.size(), 1u);
  EXPECT_EQ(c->platform.ToString(), "linux/amd64");
  EXPECT_FALSE(oci::ParseConfig(R"({"rootfs":{"type":"other","diff_ids":[]}})", 1 << 20).ok());
  EXPECT_FALSE(oci::ParseConfig(R"({"os":"linux"})", 1 << 20).ok());
}

TEST(OciImageTest, PlatformParsing) {
  EXPECT_TRUE(oci::Platform::Parse("linux/arm/v7").ok());
  EXPECT_FALSE(oci::Platform::Parse("linux").ok());
  EXPECT_FALSE(oci::Platform::Parse("linux//").ok());
  EXPECT_FALSE(oci::Platform::Parse("a/b/c/d").ok());
  EXPECT_FALSE(oci::LayerCompression("application/vnd.oci.image.layer.v1.tar+encrypted").ok());
}

}  // namespace
}  // namespace imgfs
