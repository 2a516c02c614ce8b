// imgfs run's pure parsers and config builder: --gpus, --keep-warm, --env-file, and the merge of
// the image config with the flags (including what --gpus puts in the environment).
#include "imgfs/cli/run_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace imgfs::cli {
namespace {

TEST(RunConfigTest, GpusAsDockerReadsThem) {
  EXPECT_EQ(*GpuVisibleDevices("all"), "all");
  EXPECT_EQ(*GpuVisibleDevices("2"), "0,1");  // a count: the first N
  EXPECT_EQ(*GpuVisibleDevices("device=2"), "2");
  EXPECT_EQ(*GpuVisibleDevices("\"device=0,1\""), "0,1");
  EXPECT_EQ(*GpuVisibleDevices("GPU-4a0c3e02-7f6c"), "GPU-4a0c3e02-7f6c");
  EXPECT_EQ(*GpuVisibleDevices("nvidia.com/gpu=0"), "nvidia.com/gpu=0");
  for (const char* bad : {"", "0", "x y", "device=", "0,,1", ",0", "all;rm", "5000"})
    EXPECT_FALSE(GpuVisibleDevices(bad).ok()) << bad;
}

TEST(RunConfigTest, KeepWarmDurations) {
  EXPECT_EQ(**ParseKeepWarm("90"), 90u);
  EXPECT_EQ(**ParseKeepWarm("10m"), 600u);
  EXPECT_EQ(**ParseKeepWarm("2h"), 7200u);
  EXPECT_EQ(**ParseKeepWarm("0"), 0u);
  EXPECT_FALSE(ParseKeepWarm("forever")->has_value());
  EXPECT_EQ(**ParseKeepWarm(kDefaultKeepWarm), 600u);
  for (const char* bad : {"", "m", "-1", "1d", "721h", "1.5m", "ten"})
    EXPECT_FALSE(ParseKeepWarm(bad).ok()) << bad;
}

TEST(RunConfigTest, EnvFile) {
  auto env = ParseEnvFile("# comment\n\nA=1\nB\nC\n", {"B=from-host"});
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(*env, (std::vector<std::string>{"A=1", "B=from-host"}));  // C unset: skipped
  EXPECT_FALSE(ParseEnvFile("=x\n", {}).ok());
}

class BuildRunConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() / ("run-config-" + std::to_string(::getpid()));
    std::filesystem::create_directories(root_ + "/bin");
    std::filesystem::copy_file("/bin/sh", root_ + "/bin/sh",
                               std::filesystem::copy_options::overwrite_existing);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::string root_;
  nlohmann::json spec_ = {{"process", nlohmann::json::object()},
                          {"linux", {{"namespaces", nlohmann::json::array()}}}};
};

TEST_F(BuildRunConfigTest, GpusGoToTheEnvironment) {
  nlohmann::json image = {{"config", {{"Cmd", {"/bin/sh"}}}}};
  RunOptions options;
  options.gpus = "0,1";
  std::vector<std::string> notes;
  auto built = BuildRunConfig(spec_, image, options, root_, &notes);
  ASSERT_TRUE(built.ok()) << built.status().message();
  const auto& env = (*built)["process"]["env"];
  EXPECT_NE(std::find(env.begin(), env.end(), "NVIDIA_VISIBLE_DEVICES=0,1"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "NVIDIA_DRIVER_CAPABILITIES=compute,utility"),
            env.end());
  // The image's own capabilities are kept; without --gpus nothing is added.
  image["config"]["Env"] = {"NVIDIA_DRIVER_CAPABILITIES=all"};
  built = BuildRunConfig(spec_, image, options, root_, &notes);
  ASSERT_TRUE(built.ok());
  for (const auto& e : (*built)["process"]["env"])
    EXPECT_NE(e.get<std::string>(), "NVIDIA_DRIVER_CAPABILITIES=compute,utility");
  options.gpus.clear();
  built = BuildRunConfig(spec_, image, options, root_, &notes);
  ASSERT_TRUE(built.ok());
  for (const auto& e : (*built)["process"]["env"])
    EXPECT_NE(e.get<std::string>().rfind("NVIDIA_VISIBLE_DEVICES=", 0), 0u);
}

TEST_F(BuildRunConfigTest, CommandReplacesCmdAndKeepsEntrypoint) {
  nlohmann::json image = {{"config", {{"Entrypoint", {"/bin/sh", "-c"}}, {"Cmd", {"echo hi"}}}}};
  RunOptions options;
  options.command = {"echo bye"};
  std::vector<std::string> notes;
  auto built = BuildRunConfig(spec_, image, options, root_, &notes);
  ASSERT_TRUE(built.ok()) << built.status().message();
  EXPECT_EQ((*built)["process"]["args"], nlohmann::json({"/bin/sh", "-c", "echo bye"}));
  options.command = {"/bin/nosuch"};
  image["config"].erase("Entrypoint");
  EXPECT_FALSE(BuildRunConfig(spec_, image, options, root_, &notes).ok());
}

}  // namespace
}  // namespace imgfs::cli
