#include "runc-lite/spec.h"

#include <gtest/gtest.h>

#include "runc-lite/plan_builder.h"

namespace imgfs::runc {
namespace {

const char kMinimal[] = R"({
  "ociVersion": "1.2.0",
  "root": {"path": "rootfs", "readonly": true},
  "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 1, "gid": 2, "additionalGids": [3]},
              "capabilities": {"bounding": ["CAP_KILL"], "ambient": ["CAP_KILL"]},
              "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20}],
              "noNewPrivileges": true, "oomScoreAdj": 5},
  "hostname": "box",
  "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
             {"destination": "/data", "type": "bind", "source": "/tmp", "options": ["rbind", "ro"]}],
  "hooks": {"poststop": [{"path": "/bin/true", "args": ["true"], "env": ["A=1"], "timeout": 3}]},
  "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"},
                           {"type": "network", "path": "/proc/1/ns/net"}],
            "cgroupsPath": "/x/y",
            "resources": {"memory": {"limit": 1048576}, "pids": {"limit": 5},
                          "cpu": {"shares": 512, "quota": 5000, "period": 10000, "cpus": "0"},
                          "devices": [{"allow": false, "access": "rwm"},
                                      {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}]},
            "seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                                      "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_NE"}]}]},
            "sysctl": {"net.ipv4.ip_forward": "1"},
            "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"]}
})";

TEST(SpecTest, ParsesEveryFieldUsed) {
  Result<Spec> s = ParseSpec(kMinimal);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->root_path, "rootfs");
  EXPECT_TRUE(s->root_readonly);
  ASSERT_TRUE(s->process);
  EXPECT_EQ(s->process->user.uid, 1u);
  EXPECT_EQ(s->process->user.additional_gids, std::vector<uint32_t>{3});
  EXPECT_EQ(s->process->capabilities->ambient, std::vector<std::string>{"CAP_KILL"});
  EXPECT_EQ(s->process->rlimits[0].hard, 20u);
  EXPECT_EQ(*s->process->oom_score_adj, 5);
  EXPECT_EQ(s->mounts[1].options, (std::vector<std::string>{"rbind", "ro"}));
  EXPECT_EQ(s->hooks.poststop[0].env, std::vector<std::string>{"A=1"});
  EXPECT_EQ(*s->hooks.poststop[0].timeout, 3);
  EXPECT_EQ(s->FindNamespace("network")->path, "/proc/1/ns/net");
  EXPECT_EQ(s->FindNamespace("user"), nullptr);
  EXPECT_EQ(*s->linux.resources->memory_limit, 1048576);
  EXPECT_EQ(*s->linux.resources->pids_limit, 5);
  EXPECT_EQ(*s->linux.resources->cpu_quota, 5000);
  EXPECT_EQ(s->linux.resources->devices.size(), 2u);
  EXPECT_EQ(*s->linux.resources->devices[1].minor, 3);
  EXPECT_EQ(s->linux.seccomp->syscalls[0].args[0].op, "SCMP_CMP_NE");
  EXPECT_EQ(*s->linux.seccomp->syscalls[0].errno_ret, 1u);
  EXPECT_EQ(s->linux.sysctl.at("net.ipv4.ip_forward"), "1");
}

TEST(SpecTest, RejectsBadConfigs) {
  EXPECT_FALSE(ParseSpec("{").ok());
  EXPECT_FALSE(ParseSpec("[]").ok());
  EXPECT_FALSE(ParseSpec(R"({"root": {"path": "r"}})").ok()) << "ociVersion required";
  EXPECT_FALSE(ParseSpec(R"({"ociVersion": "1.0.0"})").ok()) << "root required";
  const std::string base = R"({"ociVersion": "1.0.0", "root": {"path": "r"}, )";
  EXPECT_FALSE(ParseSpec(base + R"("linux": {"namespaces": [{"type": "bogus"}]}})").ok());
  EXPECT_FALSE(ParseSpec(base + R"("linux": {"namespaces": [{"type": "pid"}, {"type": "pid"}]}})").ok());
  EXPECT_FALSE(ParseSpec(base + R"("mounts": [{"destination": "relative"}]})").ok());
  EXPECT_FALSE(ParseSpec(base + R"("process": {"args": ["sh"], "cwd": "rel"}})").ok());
  EXPECT_FALSE(ParseSpec(base + R"("process": {"args": "sh"}})").ok()) << "wrong type";
  EXPECT_FALSE(ParseSpec(base + R"("hooks": {"prestart": [{"path": "rel"}]}})").ok());
  EXPECT_FALSE(ParseSpec(base + R"("hostname": "h"})").ok()) << "hostname needs uts ns";
  EXPECT_FALSE(ParseSpec(base + R"("linux": {"uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}})").ok());
  EXPECT_FALSE(ParseSpec(base + R"("linux": {"seccomp": {"syscalls": []}}})").ok());
  EXPECT_FALSE(ParseSpec(base + R"("linux": {"rootfsPropagation": "weird"}})").ok());
}

TEST(SpecTest, DefaultSpecParses) {
  Result<Spec> s = ParseSpec(DefaultSpecJson());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->FindNamespace("mount"));
  EXPECT_EQ(s->process->args, std::vector<std::string>{"sh"});
}

TEST(SpecTest, ResourcesAndProcessDocuments) {
  Result<Resources> r = ParseResources(R"({"memory": {"limit": 100, "swap": 200}, "pids": {"limit": 3}})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r->memory_swap, 200);
  EXPECT_FALSE(ParseProcess(R"({"cwd": "/"})").ok()) << "args required";
  Result<Process> p = ParseProcess(R"({"args": ["ls"], "terminal": true, "env": ["X=1"]})");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->terminal);
}

TEST(CleanPathTest, NeverEscapesRoot) {
  EXPECT_EQ(CleanPath("/a/../b//c/"), "/b/c");
  EXPECT_EQ(CleanPath("/../../proc"), "/proc");
  EXPECT_EQ(CleanPath("/"), "/");
  EXPECT_EQ(CleanPath("/./x/."), "/x");
}

}  // namespace
}  // namespace imgfs::runc
