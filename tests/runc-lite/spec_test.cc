#include "runc-lite/spec.h"

#include <gtest/gtest.h>

#include "runc-lite/plan_builder.h"
#include "runc-lite/spec_default.h"

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
  EXPECT_FALSE(
      ParseSpec(base + R"("linux": {"namespaces": [{"type": "pid"}, {"type": "pid"}]}})").ok());
  EXPECT_FALSE(ParseSpec(base + R"("mounts": [{"destination": "relative"}]})").ok());
  EXPECT_FALSE(ParseSpec(base + R"("process": {"args": ["sh"], "cwd": "rel"}})").ok());
  EXPECT_FALSE(ParseSpec(base + R"("process": {"args": "sh"}})").ok()) << "wrong type";
  EXPECT_FALSE(ParseSpec(base + R"("hooks": {"prestart": [{"path": "rel"}]}})").ok());
  EXPECT_FALSE(ParseSpec(base + R"("hostname": "h"})").ok()) << "hostname needs uts ns";
  EXPECT_FALSE(
      ParseSpec(base + R"("linux": {"uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}})")
          .ok());
  EXPECT_FALSE(ParseSpec(base + R"("linux": {"seccomp": {"syscalls": []}}})").ok());
  EXPECT_FALSE(ParseSpec(base + R"("linux": {"rootfsPropagation": "weird"}})").ok());
}

// The attack of issue 16: an id that does not fit must not turn into root ((uid_t)-1 means
// "unchanged" to setresuid; 2^32 truncates to 0; a float truncates).
TEST(SpecTest, RefusesIdsThatDoNotFit) {
  const std::string head =
      R"({"ociVersion": "1.0.0", "root": {"path": "r"}, "process": {"args": ["sh"], "user": )";
  for (const char* bad : {"-1", "4294967295", "4294967296", "1099511627776", "1.5", "0.0", "\"0\"",
                          "true", "-4294967296"}) {
    for (const char* field : {"uid", "gid"}) {
      std::string user = std::string("{\"") + field + "\": " + bad + "}";
      Result<Spec> s = ParseSpec(head + user + "}}");
      ASSERT_FALSE(s.ok()) << field << "=" << bad;
      EXPECT_NE(s.status().message().find(std::string("process.user.") + field), std::string::npos)
          << s.status().message();
    }
    Result<Spec> g = ParseSpec(head + R"({"additionalGids": [5, )" + bad + "]}}}");
    EXPECT_FALSE(g.ok()) << "additionalGids " << bad;
    Result<Process> p =
        ParseProcess(std::string(R"({"args": ["sh"], "user": {"uid": )") + bad + "}}");
    EXPECT_FALSE(p.ok()) << "exec --process uid " << bad;
  }
  Result<Spec> max = ParseSpec(
      head + R"({"uid": 4294967294, "gid": 4294967294, "additionalGids": [4294967294]}}})");
  ASSERT_TRUE(max.ok()) << max.status().ToString();
  EXPECT_EQ(max->process->user.uid, kMaxId);
}

TEST(SpecTest, RefusesMappingsAndDeviceOwnersThatDoNotFit) {
  const std::string head = R"({"ociVersion": "1.0.0", "root": {"path": "r"},
      "linux": {"namespaces": [{"type": "user"}], )";
  auto parse = [&](const std::string& linux_rest) { return ParseSpec(head + linux_rest + "}}"); };
  EXPECT_TRUE(
      parse(R"("uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}])").ok());
  for (
      const char* bad : {
          R"("uidMappings": [{"containerID": -1, "hostID": 0, "size": 1}])",
          R"("uidMappings": [{"containerID": 0, "hostID": 4294967295, "size": 1}])",
          R"("gidMappings": [{"containerID": 0, "hostID": 4294967296, "size": 1}])",
          R"("gidMappings": [{"containerID": 0, "hostID": 1.5, "size": 1}])",
          R"("uidMappings": [{"containerID": 0, "hostID": 0, "size": 0}])",
          R"("uidMappings": [{"containerID": 0, "hostID": 0}])",
          R"("uidMappings": [{"containerID": 0, "hostID": 0, "size": -1}])",
          R"("uidMappings": [{"containerID": 4294967290, "hostID": 0, "size": 10}])",
          R"("uidMappings": [{"containerID": 0, "hostID": 4294967290, "size": 10}])",
          R"("devices": [{"path": "/dev/x", "type": "c", "major": 1, "minor": 3, "uid": -1}])",
          R"("devices": [{"path": "/dev/x", "type": "c", "major": 1, "minor": 3, "gid": 4294967296}])",
      }) {
    EXPECT_FALSE(parse(bad).ok()) << bad;
  }
}

TEST(SpecTest, IntegersAreNeitherTruncatedNorWrapped) {
  const std::string base = R"({"ociVersion": "1.0.0", "root": {"path": "r"}, )";
  EXPECT_FALSE(ParseSpec(base + R"("process": {"args": ["sh"], "oomScoreAdj": 1.5}})").ok());
  EXPECT_FALSE(ParseSpec(base + R"("process": {"args": ["sh"], "oomScoreAdj": 4294967296}})").ok());
  EXPECT_FALSE(
      ParseSpec(
          base +
          R"("process": {"args": ["sh"], "rlimits": [{"type": "RLIMIT_NOFILE", "soft": -1, "hard": 1}]}})")
          .ok());
  EXPECT_FALSE(ParseResources(R"({"blockIO": {"weight": 65536}})").ok());
  EXPECT_TRUE(ParseResources(R"({"memory": {"limit": -1}})").ok()) << "-1 is unlimited";
  Result<Resources> go = ParseResources(R"({"memory": {"swappiness": 18446744073709551615}})");
  ASSERT_TRUE(go.ok()) << "Go's uint64(-1) for swappiness";
  EXPECT_EQ(*go->memory_swappiness, -1);
}

TEST(SpecTest, CapsArrays) {
  auto with_mounts = [](size_t n) {
    std::string m;
    for (size_t i = 0; i < n; ++i)
      m += std::string(i ? "," : "") + R"({"destination": "/m)" + std::to_string(i) +
           R"(", "type": "tmpfs", "source": "tmpfs"})";
    return R"({"ociVersion": "1.0.0", "root": {"path": "r"}, "mounts": [)" + m + "]}";
  };
  EXPECT_TRUE(ParseSpec(with_mounts(kMaxMounts)).ok());
  Result<Spec> s = ParseSpec(with_mounts(kMaxMounts + 1));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "too many mounts (4097; at most 4096)");
  std::string paths;
  for (size_t i = 0; i <= kMaxEntries; ++i) paths += std::string(i ? "," : "") + "\"/p\"";
  EXPECT_FALSE(
      ParseSpec(R"({"ociVersion": "1.0.0", "root": {"path": "r"}, "linux": {"maskedPaths": [)" +
                paths + "]}}")
          .ok());
}

TEST(SpecTest, DefaultSpecParses) {
  Result<Spec> s = ParseSpec(DefaultSpecJson());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->FindNamespace("mount"));
  EXPECT_EQ(s->process->args, std::vector<std::string>{"sh"});
}

TEST(SpecTest, ResourcesAndProcessDocuments) {
  Result<Resources> r =
      ParseResources(R"({"memory": {"limit": 100, "swap": 200}, "pids": {"limit": 3}})");
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
