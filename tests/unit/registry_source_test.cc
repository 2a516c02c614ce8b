// RegistrySource over a scripted registry: layers stream through bounded pipes, downloads
// ahead of the reader pause (drop their connection) when their pipe stays full and resume with
// Range, every byte arrives in order; a layer longer than its descriptor is refused. No sleeps:
// the pause is immediate (pause_after 0) and the reader's draining is what resumes a download.
#include "imgfs/registry/registry_source.h"

#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <random>

#include "tests/unit/registry_test_util.h"

namespace imgfs::registry {
namespace {

std::string RandomBytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

class RegistrySourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (unsigned i = 0; i < 3; ++i) layers_.push_back(RandomBytes(200000 + i * 1000, i));
    nlohmann::json config = {{"architecture", "amd64"}, {"os", "linux"}};
    nlohmann::json diff_ids = nlohmann::json::array();
    nlohmann::json descs = nlohmann::json::array();
    for (const std::string& l : layers_) {
      diff_ids.push_back(Sha256(l).ToString());
      descs.push_back({{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
                       {"digest", Sha256(l).ToString()},
                       {"size", l.size()}});
    }
    config["rootfs"] = {{"type", "layers"}, {"diff_ids", diff_ids}};
    config_ = config.dump();
    manifest_ = nlohmann::json{
        {"schemaVersion", 2},
        {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
        {"config",
         {{"mediaType", "application/vnd.oci.image.config.v1+json"},
          {"digest", Sha256(config_).ToString()},
          {"size", config_.size()}}},
        {"layers",
         descs}}.dump();
  }

  // Serves the manifest, the config and the layers (ranges too; `extra` bytes appended to
  // layer 2).
  Reply Serve(const HttpRequest& req, size_t extra) {
    if (req.url.find("/manifests/") != std::string::npos)
      return {200, {{"content-type", "application/vnd.oci.image.manifest.v1+json"}}, manifest_};
    if (req.url.ends_with(Sha256(config_).ToString())) return {200, {}, config_};
    for (size_t i = 0; i < layers_.size(); ++i) {
      if (!req.url.ends_with(Sha256(layers_[i]).ToString())) continue;
      std::string blob = layers_[i] + (i == 2 ? std::string(extra, 'x') : "");
      std::string range = Header(req, "Range");
      if (range.empty()) return {200, {}, blob};
      ++ranged_;
      size_t from = std::stoul(range.substr(6));
      return {206,
              {{"content-range", "bytes " + std::to_string(from) + "-" +
                                     std::to_string(blob.size() - 1) + "/" +
                                     std::to_string(blob.size())}},
              blob.substr(from)};
    }
    return {404, {}, ""};
  }

  Result<std::unique_ptr<indexer::ImageSource>> Open(size_t extra) {
    auto transport = std::make_unique<FakeTransport>();
    fake_ = transport.get();
    transport->piece = 4096;
    transport->handler = [this, extra](const HttpRequest& req) { return Serve(req, extra); };
    ClientOptions options;
    options.initial_backoff = std::chrono::milliseconds(0);
    options.credential_files.paths.clear();
    auto client = RegistryClient::Open("reg.test", "app", options, std::move(transport));
    EXPECT_TRUE(client.ok());
    auto ref = ParseReference("docker://reg.test/app:v1");
    StreamTuning tuning;
    tuning.pipe_bytes = 16 << 10;  // far less than a layer: downloads ahead must pause
    tuning.pause_after = std::chrono::milliseconds(0);
    return OpenRegistrySource(*ref, indexer::SourceOptions{},
                              std::shared_ptr<RegistryClient>(std::move(*client)), tuning);
  }

  static Result<std::string> ReadAll(indexer::ByteSource& src) {
    std::string out;
    uint8_t buf[5000];
    while (true) {
      ASSIGN_OR_RETURN(size_t n, src.Read(buf));
      if (n == 0) return out;
      out.append(reinterpret_cast<char*>(buf), n);
    }
  }

  std::vector<std::string> layers_;
  std::string config_, manifest_;
  std::atomic<int> ranged_{0};
  FakeTransport* fake_ = nullptr;
};

TEST_F(RegistrySourceTest, LayersAheadPauseAndResumeWithRange) {
  auto source = Open(0);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  ASSERT_EQ((*source)->image().layers.size(), 3u);
  EXPECT_EQ((*source)->image().manifest_digest, Sha256(manifest_).ToString());
  auto first = (*source)->OpenLayer(0);  // starts all three downloads
  ASSERT_TRUE(first.ok());
  // Nobody reads layers 1 and 2 yet: each fills its pipe and drops its first transfer.
  for (size_t i = 1; i < 3; ++i)
    fake_->WaitFinished("https://reg.test/v2/app/blobs/" + Sha256(layers_[i]).ToString(), 1);
  for (size_t i = 0; i < 3; ++i) {
    auto layer = i == 0 ? std::move(first) : (*source)->OpenLayer(i);
    ASSERT_TRUE(layer.ok()) << layer.status().ToString();
    auto got = ReadAll(**layer);
    ASSERT_TRUE(got.ok()) << "layer " << i << ": " << got.status().ToString();
    EXPECT_EQ(*got, layers_[i]) << "layer " << i;
  }
  // Layers 1 and 2 started with layer 0 and could not all fit in 16 KiB pipes: their downloads
  // were dropped and resumed from where they stopped.
  EXPECT_GE(ranged_.load(), 2);
}

TEST_F(RegistrySourceTest, ALayerLongerThanItsDescriptorIsRefused) {
  auto source = Open(10);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  for (size_t i = 0; i < 2; ++i) ASSERT_TRUE(ReadAll(**(*source)->OpenLayer(i)).ok());
  auto got = ReadAll(**(*source)->OpenLayer(2));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kCorruption) << got.status().ToString();
}

TEST_F(RegistrySourceTest, DroppingTheSourceStopsItsDownloads) {
  auto source = Open(0);
  ASSERT_TRUE(source.ok());
  ASSERT_TRUE((*source)->OpenLayer(0).ok());  // starts three downloads, reads nothing
  source->reset();                            // joins them: must not hang
}

}  // namespace
}  // namespace imgfs::registry
