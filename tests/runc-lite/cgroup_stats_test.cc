// events --stats: runc's JSON from v1 controller files and cgroup2 files, over directories that
// mimic each layout (the root tests read real cgroups on every layout).
#include "runc-lite/cgroup_stats.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace imgfs::runc {
namespace {

namespace fs = std::filesystem;

class CgroupStatsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/runc-lite-stats.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string Put(const std::string& dir, const std::string& file, const std::string& text) {
    fs::create_directories(root_ / dir);
    std::ofstream(root_ / dir / file) << text;
    return (root_ / dir).string();
  }
  fs::path root_;
};

TEST_F(CgroupStatsTest, V1Controllers) {
  ContainerState s;
  s.cgroup_paths["cpuacct"] = Put("cpuacct", "cpuacct.usage", "5000\n");
  Put("cpuacct", "cpuacct.usage_percpu", "3000 2000 \n");
  Put("cpuacct", "cpuacct.stat", "user 2\nsystem 1\n");
  s.cgroup_paths["cpu"] =
      Put("cpu", "cpu.stat", "nr_periods 7\nnr_throttled 3\nthrottled_time 99\n");
  s.cgroup_paths["memory"] = Put("memory", "memory.usage_in_bytes", "4096\n");
  Put("memory", "memory.limit_in_bytes", "16777216\n");
  Put("memory", "memory.max_usage_in_bytes", "8192\n");
  Put("memory", "memory.failcnt", "2\n");
  Put("memory", "memory.stat", "cache 1024\nrss 3072\n");
  s.cgroup_paths["pids"] = Put("pids", "pids.current", "3\n");
  Put("pids", "pids.max", "max\n");
  nlohmann::json j = CgroupStats(s);
  EXPECT_EQ(j["cpu"]["usage"]["total"], 5000u);
  EXPECT_EQ(j["cpu"]["usage"]["percpu"], nlohmann::json({3000, 2000}));
  EXPECT_EQ(j["cpu"]["usage"]["user"], 2u * (1000000000u / ::sysconf(_SC_CLK_TCK)));
  EXPECT_EQ(j["cpu"]["throttling"]["throttled_periods"], 3u);
  EXPECT_EQ(j["cpu"]["throttling"]["throttled_time"], 99u);
  EXPECT_EQ(j["memory"]["usage"]["usage"], 4096u);
  EXPECT_EQ(j["memory"]["usage"]["limit"], 16777216u);
  EXPECT_EQ(j["memory"]["usage"]["max"], 8192u);
  EXPECT_EQ(j["memory"]["usage"]["failcnt"], 2u);
  EXPECT_EQ(j["memory"]["cache"], 1024u);
  EXPECT_EQ(j["memory"]["raw"]["rss"], 3072u);
  EXPECT_EQ(j["pids"]["current"], 3u);
  EXPECT_EQ(j["pids"]["limit"], 0u) << "no limit reads as 0, as runc reports it";
}

TEST_F(CgroupStatsTest, V2Files) {
  ContainerState s;
  s.cgroup_v2 = true;
  std::string d = Put("c", "cpu.stat",
                      "usage_usec 7\nuser_usec 4\nsystem_usec 3\nnr_periods 1\n"
                      "nr_throttled 1\nthrottled_usec 2\n");
  Put("c", "memory.current", "100\n");
  Put("c", "memory.max", "max\n");
  Put("c", "memory.events", "low 0\nhigh 0\nmax 5\noom 0\n");
  Put("c", "pids.current", "2\n");
  Put("c", "pids.max", "10\n");
  Put("c", "hugetlb.2MB.current", "0\n");
  Put("c", "hugetlb.2MB.max", "4194304\n");
  Put("c", "hugetlb.2MB.rsvd.current", "0\n");
  s.cgroup_paths["unified"] = d;
  nlohmann::json j = CgroupStats(s);
  EXPECT_EQ(j["cpu"]["usage"]["total"], 7000u);
  EXPECT_EQ(j["cpu"]["usage"]["kernel"], 3000u);
  EXPECT_EQ(j["cpu"]["throttling"]["throttled_time"], 2000u);
  EXPECT_EQ(j["memory"]["usage"]["usage"], 100u);
  EXPECT_EQ(j["memory"]["usage"]["limit"], UINT64_MAX);
  EXPECT_EQ(j["memory"]["usage"]["failcnt"], 5u);
  EXPECT_EQ(j["pids"]["limit"], 10u);
  ASSERT_EQ(j["hugetlb"].size(), 1u) << j["hugetlb"].dump();
  EXPECT_EQ(j["hugetlb"]["2MB"]["max"], 4194304u);
}

TEST(ParseKeyValuesTest, SkipsJunk) {
  auto m = ParseKeyValues("a 1\nb x\nc\n d 4\ne -1\n");
  EXPECT_EQ(m.size(), 2u);
  EXPECT_EQ(m["a"], 1u);
  EXPECT_EQ(m["d"], 4u);
}

}  // namespace
}  // namespace imgfs::runc
