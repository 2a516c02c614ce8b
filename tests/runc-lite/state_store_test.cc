#include "runc-lite/state_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/fd.h"
#include "runc-lite/container.h"
#include "runc-lite/runtime_log.h"

namespace imgfs::runc {
namespace {

class StateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/runc-lite-state-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = std::string(tmpl) + "/root";  // not yet there: CreateDir makes it
  }
  void TearDown() override {
    (void)!system(("rm -rf " + root_.substr(0, root_.rfind('/'))).c_str());
  }
  std::string root_;
};

ContainerState Sample() {
  ContainerState s;
  s.id = "abc";
  s.pid = getpid();
  s.start_time = ReadProcStat(getpid())->start_time;
  s.bundle = "/b";
  s.rootfs = "/b/rootfs";
  s.created = NowRfc3339Nano();
  s.annotations = {{"k", "v"}};
  s.cgroup_paths = {{"memory", "/sys/fs/cgroup/memory/x"}};
  s.config_json = R"({"ociVersion":"1.0.0"})";
  return s;
}

TEST_F(StateStoreTest, RoundTrip) {
  StateStore store(root_);
  ContainerState s = Sample();
  ASSERT_TRUE(store.CreateDir(s.id).ok());
  EXPECT_EQ(store.CreateDir(s.id).code(), Code::kAlreadyExists);
  ASSERT_TRUE(store.Save(s).ok());
  Result<ContainerState> back = store.Load("abc");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->pid, s.pid);
  EXPECT_EQ(back->start_time, s.start_time);
  EXPECT_EQ(back->annotations, s.annotations);
  EXPECT_EQ(back->cgroup_paths, s.cgroup_paths);
  EXPECT_EQ(back->config_json, s.config_json);
  EXPECT_EQ(*store.List(), std::vector<std::string>{"abc"});
  ASSERT_TRUE(store.Remove("abc").ok());
  Result<ContainerState> gone = store.Load("abc");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().message(), "container does not exist");
}

TEST_F(StateStoreTest, LiveStatusFollowsTheProcess) {
  StateStore store(root_);
  ContainerState s = Sample();
  ASSERT_TRUE(store.CreateDir(s.id).ok());
  EXPECT_EQ(LiveStatus(s, store), ContainerStatus::kRunning);
  ASSERT_EQ(mkfifo(store.FifoPath(s.id).c_str(), 0600), 0);
  EXPECT_EQ(LiveStatus(s, store), ContainerStatus::kCreated);
  s.start_time += 1;  // same pid, different process: PID reuse
  EXPECT_EQ(LiveStatus(s, store), ContainerStatus::kStopped);
  s.pid = 0;
  EXPECT_EQ(LiveStatus(s, store), ContainerStatus::kStopped);
}

TEST_F(StateStoreTest, OciStateDocument) {
  ContainerState s = Sample();
  auto j = nlohmann::json::parse(OciStateJson(s, ContainerStatus::kRunning));
  for (const char* k :
       {"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner", "annotations"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["status"], "running");
  EXPECT_EQ(nlohmann::json::parse(OciStateJson(s, ContainerStatus::kStopped))["pid"], 0);
}

TEST(IdTest, Validation) {
  EXPECT_TRUE(ValidateId("a-b_c.d+1").ok());
  EXPECT_FALSE(ValidateId("").ok());
  EXPECT_FALSE(ValidateId("..").ok());
  EXPECT_FALSE(ValidateId("a/b").ok());
  EXPECT_FALSE(ValidateId("a b").ok());
}

TEST_F(StateStoreTest, PidFileIsDigitsOnly) {
  ASSERT_EQ(mkdir(root_.c_str(), 0700), 0);
  std::string path = root_ + "/pid";
  ASSERT_TRUE(WritePidFile(path, 12345).ok());
  EXPECT_EQ(*ReadFileToString(path, 100), "12345");
}

TEST(LogTest, JsonLine) {
  auto j = nlohmann::json::parse(
      JsonLogLine("error", "container \"x\" does not exist", "2024-01-01T00:00:00Z"));
  EXPECT_EQ(j["level"], "error");
  EXPECT_EQ(j["msg"], "container \"x\" does not exist");
  EXPECT_EQ(j["time"], "2024-01-01T00:00:00Z");
}

}  // namespace
}  // namespace imgfs::runc
