// Unit tests for the pieces that turn a spec into kernel inputs: capability masks, seccomp BPF,
// the init plan (mounts, devices, sysctls, namespaces).
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runc-lite/capabilities.h"
#include "runc-lite/device_filter.h"
#include "runc-lite/hooks.h"
#include "runc-lite/init_plan.h"
#include "runc-lite/interrupt.h"
#include "runc-lite/plan_builder.h"
#include "runc-lite/seccomp.h"
#include "runc-lite/spawn.h"
#include "runc-lite/spec_default.h"

namespace imgfs::runc {
namespace {

TEST(CapabilitiesTest, NamesToMask) {
  std::vector<std::string> skipped;
  uint64_t m = CapabilityMask({"CAP_KILL", "CAP_SYS_ADMIN", "cap_chown"}, &skipped);
  EXPECT_EQ(m, (1ULL << CAP_KILL) | (1ULL << CAP_SYS_ADMIN) | (1ULL << CAP_CHOWN));
  EXPECT_TRUE(skipped.empty());
  // Unknown names (a typo, a capability newer than libcap/the kernel) are skipped and reported.
  EXPECT_EQ(CapabilityMask({"KILL_EVERYONE", "CAP_KILL", "CAP_FROM_THE_FUTURE"}, &skipped),
            1ULL << CAP_KILL);
  EXPECT_EQ(skipped, (std::vector<std::string>{"KILL_EVERYONE", "CAP_FROM_THE_FUTURE"}));
  EXPECT_EQ(CapabilityName(CAP_SYS_ADMIN), "CAP_SYS_ADMIN");
  EXPECT_GT(KnownCapabilities().size(), 36u);
}

TEST(SeccompTest, CompilesWholeProfiles) {
  Seccomp s;
  s.default_action = "SCMP_ACT_ERRNO";
  s.default_errno_ret = 38;
  s.architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86"};
  s.syscalls.push_back({{"read", "write", "no_such_syscall"}, "SCMP_ACT_ALLOW", std::nullopt, {}});
  s.syscalls.push_back(
      {{"personality"}, "SCMP_ACT_ALLOW", std::nullopt, {{0, 0xffffffff, 0, "SCMP_CMP_EQ"}}});
  Result<CompiledSeccomp> c = CompileSeccomp(s);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_GT(c->program.size(), 5u);
  s.syscalls[0].action = "SCMP_ACT_NOTIFY";
  EXPECT_EQ(CompileSeccomp(s).status().code(), Code::kUnimplemented);
  s.syscalls[0].action = "SCMP_ACT_BOGUS";
  EXPECT_FALSE(CompileSeccomp(s).ok());
}

TEST(PlanTest, MountsDevicesSysctlsNamespaces) {
  Result<Spec> spec = ParseSpec(DefaultSpecJson());
  ASSERT_TRUE(spec.ok());
  spec->linux.sysctl["net.ipv4.ip_forward"] = "1";
  spec->linux.namespaces.push_back({"user", ""});
  spec->mounts.push_back({"/data/../srv", "bind", "/tmp", {"rbind", "ro", "nosuid"}});
  CgroupLayout layout;
  layout.unified_mount = "/sys/fs/cgroup";
  ContainerState state;
  state.cgroup_paths["unified"] = "/sys/fs/cgroup/x";
  CreateOptions opts;
  opts.id = "x";
  opts.bundle = "/b";
  spec->process->terminal = false;
  Arena arena;
  PlanFds fds;
  InitPlan plan;
  Status st = BuildInitPlan(*spec, opts, "/b/rootfs", layout, state, arena, fds, plan);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(NewNamespaceFlags(*spec) & CLONE_NEWUSER,
            static_cast<unsigned long long>(CLONE_NEWUSER));
  EXPECT_EQ(NewNamespaceFlags(*spec) & CLONE_NEWCGROUP, 0u) << "cgroup ns is unshared by the child";
  EXPECT_TRUE(plan.unshare_cgroup);
  EXPECT_TRUE(plan.make_devices);
  const MountOp& bind = plan.mounts.back();
  EXPECT_STREQ(bind.dest, "srv");
  EXPECT_EQ(bind.kind, MountKind::kBind);
  EXPECT_TRUE(bind.flags & MS_RDONLY);
  EXPECT_TRUE(bind.flags & MS_REC);
  EXPECT_TRUE(bind.remount);
  EXPECT_STREQ(plan.sysctls[0].rel, "sys/net/ipv4/ip_forward");
  EXPECT_GE(plan.process.exec_candidates.size(), 5u);
  EXPECT_STREQ(plan.process.exec_candidates[0], "/usr/local/sbin/sh");

  Spec bad = *spec;
  bad.mounts.push_back({"/proc", "tmpfs", "tmpfs", {}});
  InitPlan p2;
  EXPECT_FALSE(BuildInitPlan(bad, opts, "/b/rootfs", layout, state, arena, fds, p2).ok());
  Spec tty = *spec;
  tty.process->terminal = true;
  InitPlan p3;
  EXPECT_FALSE(BuildInitPlan(tty, opts, "/b/rootfs", layout, state, arena, fds, p3).ok())
      << "terminal without a console socket";
}

// The verdict of the last two instructions (mov r0, imm; exit) is the default.
int DefaultVerdict(const std::vector<bpf_insn>& p) { return p[p.size() - 2].imm; }

TEST(DeviceFilterTest, DefaultsAndRuleBlocks) {
  EXPECT_EQ(DefaultVerdict(BuildDeviceFilter({})), 1) << "no rules: allow, like v1";
  std::vector<DeviceRule> rules = {{false, "a", std::nullopt, std::nullopt, "rwm"},
                                   {true, "c", 1, 3, "rwm"},
                                   {true, "c", 136, std::nullopt, "rw"}};
  std::vector<bpf_insn> p = BuildDeviceFilter(rules);
  EXPECT_EQ(DefaultVerdict(p), 0) << "deny-all sets the default";
  // 6 prologue + (type, major, minor, verdict x2) + (type, access x3, major, verdict x2) + 2.
  EXPECT_EQ(p.size(), 6u + 5u + 7u + 2u);
  for (const bpf_insn& i : p) {
    if (BPF_CLASS(i.code) == BPF_JMP && BPF_OP(i.code) == BPF_JNE) {
      EXPECT_GT(i.off, 0);
    }
  }
  // Later "a" rules reset: only what follows the last one counts.
  rules.push_back({true, "a", std::nullopt, std::nullopt, "rwm"});
  p = BuildDeviceFilter(rules);
  EXPECT_EQ(DefaultVerdict(p), 1);
  EXPECT_EQ(p.size(), 8u);
}

// A SIGTERM while a guard lives is an error at the next checkpoint, in a wait on the init, or
// while a hook runs (which is killed), instead of the default action; the mask is restored.
TEST(InterruptGuardTest, SignalsBecomeErrors) {
  sigset_t before;
  sigprocmask(SIG_BLOCK, nullptr, &before);
  {
    InterruptGuard guard;
    EXPECT_TRUE(guard.Check().ok());
    ASSERT_EQ(::raise(SIGTERM), 0);  // blocked: stays pending, the test process lives
    Status st = guard.Check();
    EXPECT_EQ(st.code(), Code::kUnavailable);
    EXPECT_NE(st.message().find("interrupted by signal 15"), std::string::npos) << st.message();
    EXPECT_FALSE(guard.Check().ok()) << "reported again";
  }
  {
    InterruptGuard guard;
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    UniqueFd a(sv[0]), b(sv[1]);
    ASSERT_EQ(::raise(SIGINT), 0);
    Result<int> r = ReadSync(a.get(), nullptr, guard.fd());  // nothing will ever be sent
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("interrupted by signal 2"), std::string::npos);
  }
  if (::access("/bin/sleep", X_OK) == 0) {
    InterruptGuard guard;
    ASSERT_EQ(::raise(SIGHUP), 0);
    Hook sleeper{"/bin/sleep", {"sleep", "1000"}, {}, std::nullopt};
    Status st = RunHooks({sleeper}, "{}", 0, guard.fd());  // returns at once, hook killed
    EXPECT_NE(st.message().find("interrupted by signal 1"), std::string::npos) << st.ToString();
  }
  sigset_t after;
  sigprocmask(SIG_BLOCK, nullptr, &after);
  EXPECT_EQ(sigismember(&after, SIGTERM), sigismember(&before, SIGTERM));
  EXPECT_EQ(sigismember(&after, SIGINT), sigismember(&before, SIGINT));
}

}  // namespace
}  // namespace imgfs::runc
