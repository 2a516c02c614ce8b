#include "runc-lite/mount_options.h"

#include <sys/mount.h>

#include <map>

namespace imgfs::runc {

const MountFlagOption* FindMountFlagOption(const std::string& name) {
  static const std::map<std::string, MountFlagOption> kOptions = {
      {"defaults", {false, 0}},
      {"ro", {false, MS_RDONLY}},
      {"rw", {true, MS_RDONLY}},
      {"suid", {true, MS_NOSUID}},
      {"nosuid", {false, MS_NOSUID}},
      {"dev", {true, MS_NODEV}},
      {"nodev", {false, MS_NODEV}},
      {"exec", {true, MS_NOEXEC}},
      {"noexec", {false, MS_NOEXEC}},
      {"sync", {false, MS_SYNCHRONOUS}},
      {"async", {true, MS_SYNCHRONOUS}},
      {"dirsync", {false, MS_DIRSYNC}},
      {"remount", {false, MS_REMOUNT}},
      {"mand", {false, MS_MANDLOCK}},
      {"nomand", {true, MS_MANDLOCK}},
      {"atime", {true, MS_NOATIME}},
      {"noatime", {false, MS_NOATIME}},
      {"diratime", {true, MS_NODIRATIME}},
      {"nodiratime", {false, MS_NODIRATIME}},
      {"relatime", {false, MS_RELATIME}},
      {"norelatime", {true, MS_RELATIME}},
      {"strictatime", {false, MS_STRICTATIME}},
      {"nostrictatime", {true, MS_STRICTATIME}},
      {"bind", {false, MS_BIND}},
      {"rbind", {false, MS_BIND | MS_REC}},
  };
  auto it = kOptions.find(name);
  return it == kOptions.end() ? nullptr : &it->second;
}

std::optional<unsigned long> PropagationFlags(const std::string& name) {
  static const std::map<std::string, unsigned long> kPropagation = {
      {"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
      {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
      {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
      {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC}};
  auto it = kPropagation.find(name);
  if (it == kPropagation.end()) return std::nullopt;
  return it->second;
}

}  // namespace imgfs::runc
