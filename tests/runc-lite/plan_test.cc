// Unit tests for each piece of BuildInitPlan (plan_builder.h): namespaces, mounts, devices,
// sysctls, masked paths, and the one mount-option/propagation table they share with the spec.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstring>

#include "runc-lite/mount_options.h"
#include "runc-lite/plan_builder.h"
#include "runc-lite/spec_default.h"

namespace imgfs::runc {
namespace {

Spec BaseSpec() {
  Result<Spec> spec = ParseSpec(DefaultSpecJson());
  EXPECT_TRUE(spec.ok());
  return *spec;
}

TEST(PlanNamespacesTest, JoinsPropagationAndHostname) {
  Spec spec = BaseSpec();
  spec.hostname = "box";
  for (Namespace& ns : spec.linux.namespaces)
    if (ns.type == "network") ns.path = "/proc/self/ns/net";  // joined; cgroup stays new
  spec.linux.rootfs_propagation = "rprivate";
  Arena arena;
  PlanFds fds;
  InitPlan plan;
  ASSERT_TRUE(PlanNamespaces(spec, arena, fds, plan).ok());
  ASSERT_EQ(plan.joins.size(), 1u);
  EXPECT_EQ(plan.joins[0].nstype, CLONE_NEWNET);
  EXPECT_EQ(fds.fds.size(), 1u) << "the namespace fd is owned by PlanFds";
  EXPECT_TRUE(plan.unshare_cgroup);
  EXPECT_FALSE(plan.has_user_ns);
  EXPECT_STREQ(plan.hostname, "box");
  EXPECT_EQ(plan.root_propagation, static_cast<unsigned long>(MS_PRIVATE | MS_REC));

  spec.linux.rootfs_propagation = "";
  InitPlan dflt;
  ASSERT_TRUE(PlanNamespaces(spec, arena, fds, dflt).ok());
  EXPECT_EQ(dflt.root_propagation, static_cast<unsigned long>(MS_SLAVE | MS_REC));

  spec.linux.rootfs_propagation = "sideways";  // a Spec not made by ParseSpec: no abort
  InitPlan bad;
  EXPECT_EQ(PlanNamespaces(spec, arena, fds, bad).code(), Code::kInvalidArgument);

  Spec no_mnt = BaseSpec();
  no_mnt.linux.namespaces.clear();
  InitPlan p;
  EXPECT_FALSE(PlanNamespaces(no_mnt, arena, fds, p).ok()) << "a new mount namespace is required";
}

TEST(PlanMountsTest, OptionsBindsAndProc) {
  Spec spec;
  spec.mounts.push_back({"/proc", "proc", "proc", {"nosuid", "noexec"}});
  spec.mounts.push_back({"/data/../srv", "bind", "/tmp", {"rbind", "ro", "nosuid", "rslave"}});
  spec.mounts.push_back({"/run", "tmpfs", "", {"mode=755", "size=1m", "rw", "noatime"}});
  spec.mounts.push_back({"/dev", "tmpfs", "tmpfs", {"mode=755"}});
  CgroupLayout layout;
  layout.unified_mount = "/sys/fs/cgroup";
  ContainerState state;
  Arena arena;
  InitPlan plan;
  Status st = PlanMounts(spec, "/b", layout, state, arena, plan);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(plan.mounts.size(), 4u);
  EXPECT_EQ(plan.mounts[0].kind, MountKind::kProc);
  EXPECT_EQ(plan.mounts[0].flags, static_cast<unsigned long>(MS_NOSUID | MS_NOEXEC));
  const MountOp& bind = plan.mounts[1];
  EXPECT_STREQ(bind.dest, "srv");
  EXPECT_EQ(bind.kind, MountKind::kBind);
  EXPECT_TRUE(bind.flags & MS_RDONLY);
  EXPECT_TRUE(bind.flags & MS_REC);
  EXPECT_TRUE(bind.remount);
  EXPECT_EQ(bind.propagation, static_cast<unsigned long>(MS_SLAVE | MS_REC));
  EXPECT_STREQ(plan.mounts[2].data, "mode=755,size=1m") << "unknown options become data";
  EXPECT_STREQ(plan.mounts[2].source, "tmpfs") << "source defaults to the type";
  EXPECT_EQ(plan.mounts[2].flags, static_cast<unsigned long>(MS_NOATIME));

  Spec bad;
  bad.mounts.push_back({"/proc", "tmpfs", "tmpfs", {}});
  InitPlan p2;
  EXPECT_FALSE(PlanMounts(bad, "/b", layout, state, arena, p2).ok());
  Spec idmap;
  idmap.mounts.push_back({"/x", "bind", "/tmp", {"idmap"}});
  InitPlan p3;
  EXPECT_EQ(PlanMounts(idmap, "/b", layout, state, arena, p3).code(), Code::kUnimplemented);
  Spec missing;
  missing.mounts.push_back({"/x", "bind", "no-such-source-here", {}});
  InitPlan p4;
  EXPECT_FALSE(PlanMounts(missing, "/b", layout, state, arena, p4).ok())
      << "relative to the bundle";
}

TEST(PlanMountsTest, CgroupMountsFollowTheLayout) {
  Spec spec;
  spec.mounts.push_back({"/sys/fs/cgroup", "cgroup", "cgroup", {"ro", "nosuid"}});
  ContainerState state;
  state.cgroup_paths = {{"pids", "/sys/fs/cgroup/pids/runc-lite/x"},
                        {"unified", "/sys/fs/cgroup/unified/runc-lite/x"}};
  Arena arena;
  CgroupLayout v2;
  v2.unified_mount = "/sys/fs/cgroup";
  InitPlan unified;
  ASSERT_TRUE(PlanMounts(spec, "/b", v2, state, arena, unified).ok());
  ASSERT_EQ(unified.mounts.size(), 1u);
  EXPECT_STREQ(unified.mounts[0].fstype, "cgroup2");

  CgroupLayout hybrid;
  hybrid.unified_mount = "/sys/fs/cgroup/unified";
  hybrid.v1 = {{"pids", "/sys/fs/cgroup/pids"}};
  InitPlan v1;
  ASSERT_TRUE(PlanMounts(spec, "/b", hybrid, state, arena, v1).ok());
  ASSERT_EQ(v1.mounts.size(), 4u) << "tmpfs, two binds, read-only remount";
  EXPECT_STREQ(v1.mounts[0].fstype, "tmpfs");
  EXPECT_STREQ(v1.mounts[1].dest, "sys/fs/cgroup/pids");
  EXPECT_STREQ(v1.mounts[2].dest, "sys/fs/cgroup/unified");
  EXPECT_TRUE(v1.mounts[3].flags & MS_REMOUNT);

  state.cgroup_paths["memory"] = "/sys/fs/cgroup/memory/runc-lite/x";  // not in the layout
  InitPlan drift;
  EXPECT_EQ(PlanMounts(spec, "/b", hybrid, state, arena, drift).code(), Code::kInternal)
      << "an error, not an abort";
}

TEST(PlanDevicesTest, SpecDevicesThenDefaults) {
  Spec spec;
  spec.linux.devices.push_back({"/dev/null", "c", 1, 3, 0600, 5, 6});
  spec.linux.devices.push_back(
      {"/dev/sub/fuse", "c", 10, 229, std::nullopt, std::nullopt, std::nullopt});
  Arena arena;
  InitPlan plan;
  PlanDevices(spec, arena, plan);
  EXPECT_TRUE(plan.make_devices);
  ASSERT_EQ(plan.devices.size(), 2u + 5u) << "null is not added twice";
  EXPECT_STREQ(plan.devices[0].name, "null");
  EXPECT_EQ(plan.devices[0].mode, static_cast<mode_t>(S_IFCHR | 0600));
  EXPECT_EQ(plan.devices[0].uid, 5u);
  EXPECT_STREQ(plan.devices[1].dir, "dev/sub");
  EXPECT_EQ(plan.devices[1].dev, makedev(10, 229));
  Spec none;
  InitPlan defaults;
  PlanDevices(none, arena, defaults);
  EXPECT_TRUE(defaults.make_devices) << "the default nodes exist even without a /dev tmpfs";
  EXPECT_TRUE(defaults.devices[0].best_effort) << "a read-only image keeps its own /dev";
  Spec bound;
  bound.mounts = {{"/dev", "bind", "/dev", {"rbind"}}};
  InitPlan host_dev;
  PlanDevices(bound, arena, host_dev);
  EXPECT_FALSE(host_dev.make_devices) << "a bind-mounted /dev is used as it is";
  EXPECT_EQ(defaults.devices.size(), 6u);
  EXPECT_EQ(ImplicitDeviceRules(spec).size(), 9u + 2u);
}

TEST(PlanSysctlsTest, KeysBecomeProcPaths) {
  Spec spec;
  spec.linux.namespaces = {{"network", ""}, {"ipc", ""}};
  spec.linux.sysctl = {{"net.ipv4.ip_forward", "1"}, {"kernel/msgmax", "8192"}};
  Arena arena;
  InitPlan plan;
  ASSERT_TRUE(PlanSysctls(spec, arena, plan).ok());
  ASSERT_EQ(plan.sysctls.size(), 2u);
  EXPECT_STREQ(plan.sysctls[0].rel, "sys/kernel/msgmax");
  EXPECT_STREQ(plan.sysctls[1].rel, "sys/net/ipv4/ip_forward");
  spec.linux.sysctl = {{"net/../../self/mem", "x"}};
  InitPlan bad;
  EXPECT_FALSE(PlanSysctls(spec, arena, bad).ok());
}

TEST(PlanSysctlsTest, OnlyKeysOfTheContainersOwnNamespaces) {
  Spec none;  // shares every namespace with the host
  for (const char* key :
       {"net.ipv4.ping_group_range", "fs.mqueue.queues_max", "kernel.shmmax", "kernel.sem",
        "kernel.hostname", "kernel.domainname", "vm.swappiness", "kernel.pid_max", "fs.file-max"})
    EXPECT_EQ(CheckSysctlAllowed(key, none).code(), Code::kPermissionDenied) << key;
  Spec own;
  own.linux.namespaces = {{"network", ""}, {"ipc", ""}, {"uts", ""}};
  for (const char* key : {"net.ipv4.ping_group_range", "fs.mqueue.queues_max", "kernel.shmmax",
                          "kernel.sem", "kernel.msgmnb", "kernel.hostname", "kernel.domainname"})
    EXPECT_TRUE(CheckSysctlAllowed(key, own).ok()) << key;
  for (const char* key : {"vm.swappiness", "kernel.pid_max", "kernel.core_pattern", "fs.file-max"})
    EXPECT_EQ(CheckSysctlAllowed(key, own).code(), Code::kPermissionDenied) << key;
  // A namespace joined by path counts only when it is not this process's own.
  Spec host_net;
  host_net.linux.namespaces = {{"network", "/proc/self/ns/net"}};
  EXPECT_FALSE(CheckSysctlAllowed("net.ipv4.ip_forward", host_net).ok());
  // The slash form is checked the same way.
  Spec plain;
  plain.linux.sysctl = {{"vm/swappiness", "10"}};
  Arena arena;
  InitPlan plan;
  EXPECT_EQ(PlanSysctls(plain, arena, plan).code(), Code::kPermissionDenied);
  EXPECT_TRUE(plan.sysctls.empty());
}

TEST(PlanMaskedPathsTest, Cleaned) {
  Spec spec;
  spec.linux.masked_paths = {"/proc/kcore", "/proc/../sys/firmware/"};
  spec.linux.readonly_paths = {"/proc//sys"};
  Arena arena;
  InitPlan plan;
  PlanMaskedPaths(spec, arena, plan);
  ASSERT_EQ(plan.masked_paths.size(), 2u);
  EXPECT_STREQ(plan.masked_paths[1], "/sys/firmware");
  EXPECT_STREQ(plan.readonly_paths[0], "/proc/sys");
}

TEST(MountOptionsTest, OneTableForSpecAndPlan) {
  EXPECT_EQ(*PropagationFlags("rshared"), static_cast<unsigned long>(MS_SHARED | MS_REC));
  EXPECT_FALSE(PropagationFlags("ro"));
  EXPECT_EQ(FindMountFlagOption("ro")->flag, static_cast<unsigned long>(MS_RDONLY));
  EXPECT_TRUE(FindMountFlagOption("rw")->clear);
  EXPECT_EQ(FindMountFlagOption("rslave"), nullptr);
  // Every propagation word the spec accepts for the root is one the plan can apply.
  for (const char* p : {"private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable",
                        "runbindable"}) {
    std::string json = std::string(R"({"ociVersion": "1.0.0", "root": {"path": "r"},
        "linux": {"rootfsPropagation": ")") +
                       p + "\"}}";
    EXPECT_TRUE(ParseSpec(json).ok()) << p;
    EXPECT_TRUE(PropagationFlags(p)) << p;
  }
}

}  // namespace
}  // namespace imgfs::runc
