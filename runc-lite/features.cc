#include "runc-lite/features.h"

#include <nlohmann/json.hpp>

#include "runc-lite/capabilities.h"

namespace imgfs::runc {

std::string FeaturesJson() {
  using nlohmann::json;
  json j = {
      {"ociVersionMin", "1.0.0"},
      {"ociVersionMax", "1.2.0"},
      {"hooks",
       {"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}},
      {"mountOptions", {"async",      "atime",         "bind",        "defaults", "dev",
                        "diratime",   "dirsync",       "exec",        "idmap",    "mand",
                        "noatime",    "nodev",         "nodiratime",  "noexec",   "nomand",
                        "norelatime", "nostrictatime", "nosuid",      "private",  "rbind",
                        "relatime",   "remount",       "ridmap",      "ro",       "rprivate",
                        "rshared",    "rslave",        "runbindable", "rw",       "shared",
                        "slave",      "strictatime",   "suid",        "sync",     "unbindable"}},
      {"linux",
       {{"namespaces", {"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"}},
        {"capabilities", KnownCapabilities()},
        {"cgroup",
         {{"v1", true}, {"v2", true}, {"systemd", false}, {"systemdUser", false}, {"rdma", false}}},
        {"seccomp",
         {{"enabled", true},
          {"actions",
           {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"}},
          {"operators",
           {"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
            "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"}},
          {"archs",
           {"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64",
            "SCMP_ARCH_ARM"}}}},
        {"apparmor", {{"enabled", false}}},
        {"selinux", {{"enabled", false}}},
        {"intelRdt", {{"enabled", false}}},
        // idmap/ridmap binds map to the container's own new user namespace (plan_mounts.cc).
        {"mountExtensions", {{"idmap", {{"enabled", true}}}}}}},
      {"annotations", json::object()}};
  return j.dump(4);
}

}  // namespace imgfs::runc
