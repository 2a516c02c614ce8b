// A state.json is not trusted to name host cgroups or processes (issue 16): the checks that
// kill, delete, pause, update and exec run before touching a container's cgroups or init.
#include <gtest/gtest.h>
#include <linux/magic.h>

#include "runc-lite/cgroups.h"

namespace imgfs::runc {
namespace {

CgroupLayout Hybrid() {
  CgroupLayout l;
  l.unified_mount = "/sys/fs/cgroup/unified";
  l.v1 = {{"pids", "/sys/fs/cgroup/pids"}, {"memory", "/sys/fs/cgroup/memory"}};
  return l;
}

ContainerState StateWith(const std::string& cgroups_path) {
  ContainerState s;
  s.id = "c1";
  s.config_json = R"({"ociVersion": "1.0.0", "root": {"path": "r"}, "linux": {"cgroupsPath": ")" +
                  cgroups_path + "\"}}";
  std::string rel = cgroups_path.empty() ? "/runc-lite/c1" : cgroups_path;
  if (rel[0] != '/') rel = "/" + rel;
  s.cgroup_paths = {{"pids", "/sys/fs/cgroup/pids" + rel},
                    {"memory", "/sys/fs/cgroup/memory" + rel},
                    {"unified", "/sys/fs/cgroup/unified" + rel}};
  return s;
}

const char kSelf[] = "8:pids:/\n4:memory:/user.slice\n0::/user.slice/session-1.scope\n";

TEST(VerifyCgroupPathsTest, AcceptsWhatCreateMakes) {
  EXPECT_TRUE(VerifyCgroupPaths(StateWith(""), Hybrid(), kSelf).ok());
  EXPECT_TRUE(VerifyCgroupPaths(StateWith("/default/c1"), Hybrid(), kSelf).ok());
  EXPECT_TRUE(VerifyCgroupPaths(StateWith("k8s/pod1/c1"), Hybrid(), kSelf).ok());
  ContainerState none = StateWith("");
  none.cgroup_paths.clear();
  EXPECT_TRUE(VerifyCgroupPaths(none, Hybrid(), kSelf).ok());
}

TEST(VerifyCgroupPathsTest, RefusesForgedDirectories) {
  ContainerState s = StateWith("");
  s.cgroup_paths["pids"] = "/tmp/fake";  // any directory with a cgroup.procs
  Status st = VerifyCgroupPaths(s, Hybrid(), kSelf);
  EXPECT_EQ(st.code(), Code::kPermissionDenied);
  EXPECT_NE(st.message().find("/tmp/fake"), std::string::npos) << st.message();
  s = StateWith("");
  s.cgroup_paths["pids"] = "/sys/fs/cgroup/pids/system.slice/sshd.service";  // a real cgroup
  EXPECT_FALSE(VerifyCgroupPaths(s, Hybrid(), kSelf).ok());
  s = StateWith("");
  s.cgroup_paths["pids"] = "/sys/fs/cgroup/pids/runc-lite/c1/../../";
  EXPECT_FALSE(VerifyCgroupPaths(s, Hybrid(), kSelf).ok());
  s = StateWith("");
  s.cgroup_paths["cpu"] = "/sys/fs/cgroup/cpu/runc-lite/c1";  // a hierarchy not mounted
  EXPECT_FALSE(VerifyCgroupPaths(s, Hybrid(), kSelf).ok());
  s = StateWith("");
  s.config_json = "not json";
  EXPECT_FALSE(VerifyCgroupPaths(s, Hybrid(), kSelf).ok());
}

TEST(VerifyCgroupPathsTest, RefusesRootsAndTheRuntimesOwnCgroup) {
  // A forged config that puts the container at a hierarchy's root, or above the runtime.
  EXPECT_FALSE(VerifyCgroupPaths(StateWith("/"), Hybrid(), kSelf).ok());
  EXPECT_FALSE(VerifyCgroupPaths(StateWith("/user.slice"), Hybrid(), kSelf).ok());
  EXPECT_FALSE(VerifyCgroupPaths(StateWith("/user.slice/session-1.scope"), Hybrid(), kSelf).ok());
  EXPECT_FALSE(VerifyCgroupPaths(StateWith("/a/.."), Hybrid(), kSelf).ok());
  EXPECT_TRUE(VerifyCgroupPaths(StateWith("/user.slice-other"), Hybrid(), kSelf).ok())
      << "a sibling whose name starts alike is not an ancestor";
}

TEST(InContainerCgroupTest, MembershipFromProcPidCgroup) {
  ContainerState s = StateWith("");
  const char kInit[] =
      "9:name=systemd:/runc-lite/c1\n8:pids:/runc-lite/c1\n4:memory:/runc-lite/c1\n"
      "0::/runc-lite/c1\n";
  EXPECT_TRUE(InContainerCgroup(s, Hybrid(), kInit));
  const char kNested[] =
      "8:pids:/runc-lite/c1/inner\n4:memory:/runc-lite/c1\n0::/runc-lite/c1/inner\n";
  EXPECT_TRUE(InContainerCgroup(s, Hybrid(), kNested)) << "a sub-cgroup of the container";
  const char kBystander[] = "8:pids:/\n4:memory:/user.slice\n0::/user.slice\n";
  EXPECT_FALSE(InContainerCgroup(s, Hybrid(), kBystander));
  const char kPrefix[] = "8:pids:/runc-lite/c10\n4:memory:/runc-lite/c10\n0::/runc-lite/c10\n";
  EXPECT_FALSE(InContainerCgroup(s, Hybrid(), kPrefix)) << "c10 is not inside c1";
  const char kOneOff[] = "8:pids:/runc-lite/c1\n4:memory:/elsewhere\n0::/runc-lite/c1\n";
  EXPECT_FALSE(InContainerCgroup(s, Hybrid(), kOneOff)) << "every hierarchy must agree";
  EXPECT_FALSE(InContainerCgroup(s, Hybrid(), "")) << "nothing checked is not a match";
  ContainerState none = s;
  none.cgroup_paths.clear();
  EXPECT_FALSE(InContainerCgroup(none, Hybrid(), kInit));
}

// The layout comes from what is really mounted: an emulated legacy host (a tmpfs over
// /sys/fs/cgroup holding only v1 hierarchies) still lists the hidden hybrid mounts in mountinfo.
TEST(DetectCgroupLayoutTest, HiddenMountsAreNotPartOfTheLayout) {
  const std::string info =
      "30 22 0:27 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
      "34 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
      "40 30 0:37 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
      "90 22 0:90 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
      "91 90 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
      "92 90 0:35 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";
  // Visible: the new hierarchies (their devno) but no cgroup2 (hidden with the old tmpfs).
  auto visible = [](const std::string& mnt, const std::string& devno, long magic) {
    return magic != CGROUP2_SUPER_MAGIC && (devno == "0:31" || devno == "0:35");
  };
  Result<CgroupLayout> l = DetectCgroupLayout(info, visible);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(l->unified_mount, "") << "legacy: the hidden cgroup2 is not used";
  EXPECT_EQ(l->v1.size(), 2u);
  EXPECT_EQ(l->v1.at("pids"), "/sys/fs/cgroup/pids");
  // Nothing visible: an error, never a directory that is not a cgroup filesystem.
  EXPECT_FALSE(DetectCgroupLayout(info, [](auto&, auto&, long) { return false; }).ok());
  // Pure v2.
  Result<CgroupLayout> v2 =
      DetectCgroupLayout(std::string("50 22 0:50 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"),
                         [](auto&, auto&, long magic) { return magic == CGROUP2_SUPER_MAGIC; });
  ASSERT_TRUE(v2.ok());
  EXPECT_TRUE(v2->unified_only());
}

}  // namespace
}  // namespace imgfs::runc
