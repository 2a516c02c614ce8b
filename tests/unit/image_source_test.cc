// Image sources and blob verification: OCI layouts (tags, platforms, nested indexes), docker
// archives in both layouts, rootfs directories, and every way a blob can be wrong.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "indexer/image_builder.h"
#include "tests/unit/image_test_util.h"

namespace imgfs {
namespace {

using namespace imgfs::testing;  // NOLINT
using nlohmann::json;

class ImageSourceTest : public ::testing::Test {
 protected:
  Result<indexer::ImageBuildInfo> Build(const std::string& source,
                                        indexer::BuildOptions opts = {}) {
    tree_ = indexer::FsTree();
    return indexer::BuildImageTree(source, opts, writer_, &tree_);
  }
  std::string Oci() { return "oci:" + dir_.path(); }
  std::string BlobPath(const std::string& data) {
    return dir_.path() + "/blobs/sha256/" + Hex(data);
  }
  std::shared_ptr<indexer::Inode> At(const std::string& p) { return Lookup(tree_, p); }
  void ExpectError(const std::string& source, const std::string& needle) {
    auto r = Build(source);
    ASSERT_FALSE(r.ok()) << "expected an error containing: " << needle;
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  }

  TempDir dir_;
  FakeContentWriter writer_;
  indexer::FsTree tree_;
};

TEST_F(ImageSourceTest, AllCompressionsAndInfo) {
  std::vector<TestLayer> layers = {Layer({File("a", "gzip")}, 'g'), Layer({File("b", "zstd")}, 'z'),
                                   Layer({File("c", "plain")}, 'n')};
  OciLayoutWriter w(dir_.path());
  w.WriteImage(layers);
  std::vector<std::pair<uint64_t, uint64_t>> progress;
  indexer::BuildOptions opts;
  opts.progress = [&](uint64_t done, uint64_t total) { progress.emplace_back(done, total); };
  auto r = Build(Oci() + ":latest", opts);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(writer_.Data(*At("a")), "gzip");
  EXPECT_EQ(writer_.Data(*At("b")), "zstd");
  EXPECT_EQ(writer_.Data(*At("c")), "plain");
  EXPECT_EQ(r->source, Oci() + ":latest");
  EXPECT_EQ(r->manifest_digest, DigestOf(w.last_manifest()));
  EXPECT_EQ(r->config_json, w.last_config());
  EXPECT_EQ(r->layer_count, 3u);
  uint64_t blobs = 0, tars = 0;
  for (const auto& l : layers) blobs += l.blob.size(), tars += l.tar.size();
  EXPECT_EQ(r->layers_compressed_bytes, blobs);
  EXPECT_EQ(r->layers_uncompressed_bytes, tars);
  EXPECT_EQ(r->layers_file_bytes, 13u);
  EXPECT_EQ(r->entries, 3u);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back(), std::make_pair(blobs, blobs));
}

TEST_F(ImageSourceTest, TagSelection) {
  OciLayoutWriter w(dir_.path());
  json a = w.AddImage({Layer({File("which", "a")})});
  a["annotations"] = {{"org.opencontainers.image.ref.name", "a"}};
  json b = w.AddImage({Layer({File("which", "b")})});
  b["annotations"] = {{"org.opencontainers.image.ref.name", "b"}};
  w.WriteIndex({a, b});
  auto r = Build(Oci() + ":b");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(writer_.Data(*At("which")), "b");
  ExpectError(Oci() + ":nope", "tag \"nope\" not found");
  ExpectError(Oci(), "name one with oci:DIR:TAG");  // two manifests, no tag, no platforms
}

TEST_F(ImageSourceTest, MultiPlatformNestedIndex) {
  OciLayoutWriter w(dir_.path());
  json amd = w.AddImage({Layer({File("arch", "amd64")})}, "linux", "amd64");
  amd["platform"] = {{"os", "linux"}, {"architecture", "amd64"}};
  json arm = w.AddImage({Layer({File("arch", "arm64")})}, "linux", "arm64");
  arm["platform"] = {{"os", "linux"}, {"architecture", "arm64"}, {"variant", "v8"}};
  json armv7 = w.AddImage({Layer({File("arch", "armv7")})}, "linux", "arm");
  armv7["platform"] = {{"os", "linux"}, {"architecture", "arm"}, {"variant", "v7"}};
  std::string inner = json({{"schemaVersion", 2},
                            {"mediaType", "application/vnd.oci.image.index.v1+json"},
                            {"manifests", {amd, arm, armv7}}})
                          .dump();
  w.AddBlob(inner);
  json top = OciLayoutWriter::Desc("application/vnd.oci.image.index.v1+json", inner);
  top["annotations"] = {{"org.opencontainers.image.ref.name", "multi"}};
  w.WriteIndex({top});
  for (auto [platform, want] : std::vector<std::pair<std::string, std::string>>{
           {"linux/amd64", "amd64"}, {"linux/arm64", "arm64"}, {"linux/arm/v7", "armv7"}}) {
    indexer::BuildOptions opts;
    opts.platform = platform;
    auto r = Build(Oci() + ":multi", opts);
    ASSERT_TRUE(r.ok()) << platform << ": " << r.status().ToString();
    EXPECT_EQ(writer_.Data(*At("arch")), want);
  }
  indexer::BuildOptions s390;
  s390.platform = "linux/s390x";
  auto r = Build(Oci(), s390);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("linux/s390x"), std::string::npos) << r.status().message();
}

TEST_F(ImageSourceTest, LayerDigestMismatch) {
  TestLayer l = Layer({File("a", "1")});
  OciLayoutWriter(dir_.path()).WriteImage({l});
  std::string bad = l.blob;
  bad[4] ^= 1;  // the gzip header's mtime: still inflates
  WriteFile(BlobPath(l.blob), bad);
  ExpectError(Oci(), "does not match its digest");
}

TEST_F(ImageSourceTest, LayerSizeMismatch) {
  TestLayer l = Layer({File("a", "1")}, 'n');
  OciLayoutWriter(dir_.path()).WriteImage({l});
  WriteFile(BlobPath(l.blob), l.blob + std::string(512, '\0'));
  ExpectError(Oci(), "does not match the descriptor");
}

TEST_F(ImageSourceTest, DiffIdMismatch) {
  TestLayer l = Layer({File("a", "1")});
  l.tar += std::string(512, '\0');  // the config records a different uncompressed digest
  OciLayoutWriter(dir_.path()).WriteImage({l});
  ExpectError(Oci(), "does not match diff_id");
}

TEST_F(ImageSourceTest, TruncatedGzip) {
  TestLayer l = Layer({File("a", std::string(100000, 'x'))});
  l.blob.resize(l.blob.size() / 2);
  OciLayoutWriter(dir_.path()).WriteImage({l});
  ExpectError(Oci(), "truncated gzip stream");
}

TEST_F(ImageSourceTest, CorruptZstd) {
  TestLayer l = Layer({File("a", std::string(100000, 'x'))}, 'z');
  for (size_t i = 8; i < l.blob.size(); i += 3) l.blob[i] ^= 0x5a;
  OciLayoutWriter(dir_.path()).WriteImage({l});
  ExpectError(Oci(), "zstd");
}

TEST_F(ImageSourceTest, LayerErrorsNameTheLayer) {
  TestLayer l = Layer({File("a", std::string(100000, 'x'))});
  l.blob.resize(l.blob.size() / 2);
  OciLayoutWriter(dir_.path()).WriteImage({l});
  ExpectError(Oci(), "layer " + DigestOf(l.blob).substr(0, 19) + ": ");
}

TEST_F(ImageSourceTest, MalformedJson) {
  OciLayoutWriter w(dir_.path());
  w.WriteImage({Layer({File("a", "1")})});
  WriteFile(dir_.path() + "/index.json", "{\"schemaVersion\": 2, \"manifests\": [");
  ExpectError(Oci(), "malformed JSON");
  // A manifest blob that is not JSON but matches its digest.
  std::string junk = "not json";
  w.AddBlob(junk);
  json d = OciLayoutWriter::Desc("application/vnd.oci.image.manifest.v1+json", junk);
  w.WriteIndex({d});
  ExpectError(Oci(), "malformed JSON");
  // A config whose diff_ids are not strings.
  std::string config = R"({"rootfs":{"type":"layers","diff_ids":[1]}})";
  w.AddBlob(config);
  std::string manifest =
      json({{"schemaVersion", 2},
            {"config", OciLayoutWriter::Desc("application/vnd.oci.image.config.v1+json", config)},
            {"layers", json::array()}})
          .dump();
  w.AddBlob(manifest);
  w.WriteIndex({OciLayoutWriter::Desc("application/vnd.oci.image.manifest.v1+json", manifest)});
  ExpectError(Oci(), "diff_id is not a string");
}

TEST_F(ImageSourceTest, OversizedJsonRefused) {
  OciLayoutWriter(dir_.path()).WriteImage({Layer({File("a", "1")})});
  indexer::BuildOptions tiny;
  tiny.max_json_size = 100;
  auto r = Build(Oci(), tiny);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kResourceExhausted) << r.status().ToString();
}

// Writes a docker-archive: an outer ustar holding the given members.
void WriteOuterTar(const std::string& path,
                   const std::vector<std::pair<std::string, std::string>>& m) {
  std::vector<TarItem> items;
  for (const auto& [name, data] : m) items.push_back(File(name, data));
  WriteFile(path, MakeTar(items, /*pax=*/false));
}

TEST_F(ImageSourceTest, DockerArchiveLegacyLayout) {
  TestLayer l1 = Layer({File("etc/os", "deb")}, 'n');
  TestLayer l2 = Layer({File("etc/.wh.os", ""), File("bin/sh", "sh")}, 'g');  // compressed
  std::string config =
      json({{"os", "linux"},
            {"architecture", "amd64"},
            {"rootfs", {{"type", "layers"}, {"diff_ids", {DigestOf(l1.tar), DigestOf(l2.tar)}}}}})
          .dump();
  std::string manifest = json::array({{{"Config", Hex(config) + ".json"},
                                       {"RepoTags", {"docker.io/library/example:1"}},
                                       {"Layers", {"aaaa/layer.tar", "bbbb/layer.tar"}}}})
                             .dump();
  std::string file = dir_.path() + "/image.tar";
  WriteOuterTar(file, {{"aaaa/layer.tar", l1.blob},
                       {"bbbb/layer.tar", l2.blob},
                       {Hex(config) + ".json", config},
                       {"manifest.json", manifest}});
  auto r = Build("docker-archive:" + file);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(At("etc/os"));
  EXPECT_EQ(writer_.Data(*At("bin/sh")), "sh");
  EXPECT_EQ(r->config_json, config);
  EXPECT_EQ(r->manifest_digest, DigestOf(manifest));
  EXPECT_EQ(r->layer_count, 2u);
  r = Build("docker-archive:" + file + ":example:1");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  ExpectError("docker-archive:" + file + ":other:2", "not found");
}

TEST_F(ImageSourceTest, DockerArchiveBlobsLayout) {
  TestLayer l = Layer({File("hello", "world")}, 'z');
  std::string config =
      json({{"rootfs", {{"type", "layers"}, {"diff_ids", {DigestOf(l.tar)}}}}}).dump();
  std::string manifest = json::array({{{"Config", "blobs/sha256/" + Hex(config)},
                                       {"Layers", {"blobs/sha256/" + Hex(l.blob)}}}})
                             .dump();
  std::string file = dir_.path() + "/image.tar";
  WriteOuterTar(file, {{"blobs/sha256/" + Hex(config), config},
                       {"blobs/sha256/" + Hex(l.blob), l.blob},
                       {"manifest.json", manifest},
                       {"oci-layout", "{}"}});
  auto r = Build("docker-archive:" + file);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(writer_.Data(*At("hello")), "world");
  // docker 25 also writes <id>/layer.tar as a symlink to the blob; a manifest may name it.
  std::string via_link =
      json::array({{{"Config", "blobs/sha256/" + Hex(config)}, {"Layers", {"abcd/layer.tar"}}}})
          .dump();
  WriteFile(file, MakeTar({File("blobs/sha256/" + Hex(config), config),
                           File("blobs/sha256/" + Hex(l.blob), l.blob),
                           Symlink("abcd/layer.tar", "../blobs/sha256/" + Hex(l.blob)),
                           File("manifest.json", via_link)},
                          /*pax=*/false));
  r = Build("docker-archive:" + file);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(writer_.Data(*At("hello")), "world");
  // A layer blob whose content does not match its content-addressed name.
  TestLayer other = Layer({File("hello", "there")}, 'z');
  WriteOuterTar(file, {{"blobs/sha256/" + Hex(config), config},
                       {"blobs/sha256/" + Hex(l.blob), other.blob},
                       {"manifest.json", manifest}});
  ExpectError("docker-archive:" + file, "does not match");
}

TEST_F(ImageSourceTest, RootfsDirectory) {
  std::string root = dir_.path() + "/rootfs";
  WriteFile(root + "/etc/passwd", "root:x:0:0");
  WriteFile(root + "/bin/busybox", "bb");
  ASSERT_EQ(chmod((root + "/bin/busybox").c_str(), 04755), 0);
  ASSERT_EQ(link((root + "/bin/busybox").c_str(), (root + "/bin/sh").c_str()), 0);
  ASSERT_EQ(symlink("/bin/busybox", (root + "/bin/ls").c_str()), 0);
  ASSERT_EQ(mkfifo((root + "/fifo").c_str(), 0600), 0);
  bool have_dev = mknod((root + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0 &&
                  chmod((root + "/null").c_str(), 0666) == 0;
  bool have_xattr = setxattr((root + "/etc/passwd").c_str(), "user.t", "v", 1, 0) == 0;
  struct timespec times[2] = {{0, UTIME_OMIT}, {1600000000, 123}};
  ASSERT_EQ(utimensat(AT_FDCWD, (root + "/etc/passwd").c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
  auto r = Build("dir:" + root);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(writer_.Data(*At("etc/passwd")), "root:x:0:0");
  EXPECT_EQ(At("etc/passwd")->mtime_sec, 1600000000);
  EXPECT_EQ(At("etc/passwd")->mtime_nsec, 123u);
  if (have_xattr) {
    EXPECT_EQ(At("etc/passwd")->xattrs.at("user.t"), "v");
  }
  EXPECT_EQ(At("bin/sh"), At("bin/busybox"));
  EXPECT_EQ(At("bin/busybox")->mode, S_IFREG | 04755u);
  EXPECT_EQ(At("bin/ls")->link_target, "/bin/busybox");
  ASSERT_TRUE(At("fifo"));  // devices and fifos come along, as umoci unpacks them
  EXPECT_EQ(At("fifo")->mode, S_IFIFO | 0600u);
  if (have_dev) {
    ASSERT_TRUE(At("null"));
    EXPECT_EQ(At("null")->mode, S_IFCHR | 0666u);
    EXPECT_EQ(At("null")->rdev_major, 1u);
    EXPECT_EQ(At("null")->rdev_minor, 3u);
  }
  EXPECT_TRUE(r->manifest_digest.empty());
  EXPECT_EQ(r->layers_file_bytes, 12u);
  EXPECT_EQ(writer_.calls(), 2);
}

TEST_F(ImageSourceTest, EmptyLayerStreams) {
  TestLayer plain{"", "", "application/vnd.oci.image.layer.v1.tar"};
  TestLayer gz{Gzip(""), "", "application/vnd.oci.image.layer.v1.tar+gzip"};
  OciLayoutWriter(dir_.path()).WriteImage({Layer({File("a", "1")}), plain, gz});
  auto r = Build(Oci());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(At("a"));
  EXPECT_EQ(r->layer_count, 3u);
}

TEST_F(ImageSourceTest, UnknownSourceForm) { ExpectError("http://x", "unsupported image source"); }

}  // namespace
}  // namespace imgfs
