// Sysctl planning: which keys a container may set, and where in /proc they are written.
//
// A sysctl is written by the container's init through its own /proc, so it lands in whatever
// namespaces init is in. Only keys that belong to a namespace the container does not share with
// the host are accepted (as runc does): net.* needs a network namespace, the IPC keys an IPC
// namespace, kernel.hostname/domainname a UTS namespace. Everything else (vm.*, the rest of
// kernel.*, fs.* outside mqueue) is global to the host and refused.
#include <sys/stat.h>

#include <set>

#include "runc-lite/plan_builder.h"

namespace imgfs::runc {
namespace {

// Whether SPEC gives the container a TYPE namespace other than this process's own (PROC_NAME is
// its /proc/self/ns name): a new one, or a path naming a different one.
bool HasOwnNamespace(const Spec& spec, const char* type, const char* proc_name) {
  const Namespace* ns = spec.FindNamespace(type);
  if (ns == nullptr) return false;
  if (ns->path.empty()) return true;
  struct stat theirs, ours;
  if (::stat(ns->path.c_str(), &theirs) != 0) return true;  // the join fails later, clearly
  if (::stat((std::string("/proc/self/ns/") + proc_name).c_str(), &ours) != 0) return true;
  return theirs.st_ino != ours.st_ino || theirs.st_dev != ours.st_dev;
}

}  // namespace

Status CheckSysctlAllowed(const std::string& dotted_key, const Spec& spec) {
  static const std::set<std::string> kIpcKeys = {
      "kernel.msgmax",      "kernel.msgmnb",      "kernel.msgmni",     "kernel.sem",
      "kernel.shmall",      "kernel.shmmax",      "kernel.shmmni",     "kernel.shm_rmid_forced",
      "kernel.msg_next_id", "kernel.sem_next_id", "kernel.shm_next_id"};
  auto refuse = [&](const std::string& why) {
    return Status::PermissionDenied("sysctl " + dotted_key + " " + why + ": refusing to set it");
  };
  if (kIpcKeys.count(dotted_key) || dotted_key.rfind("fs.mqueue.", 0) == 0) {
    if (!HasOwnNamespace(spec, "ipc", "ipc"))
      return refuse("belongs to the IPC namespace and the container shares the host's");
    return Status::Ok();
  }
  if (dotted_key.rfind("net.", 0) == 0) {
    if (!HasOwnNamespace(spec, "network", "net"))
      return refuse("belongs to the network namespace and the container shares the host's");
    return Status::Ok();
  }
  if (dotted_key == "kernel.hostname" || dotted_key == "kernel.domainname") {
    if (!HasOwnNamespace(spec, "uts", "uts"))
      return refuse("belongs to the UTS namespace and the container shares the host's");
    return Status::Ok();
  }
  return refuse("is not namespaced (it would change the host)");
}

Status PlanSysctls(const Spec& spec, Arena& arena, InitPlan& out) {
  for (const auto& [key, value] : spec.linux.sysctl) {
    // "net.ipv4.ip_forward" and "net/ipv4/ip_forward" name the same file; a dotted key may have
    // '/' inside a component ("net.ipv4.conf.eth0/1.forwarding" is interface "eth0.1").
    std::string rel = key, dotted = key;
    if (rel.find('/') == std::string::npos) {
      for (char& c : rel) c = c == '.' ? '/' : c;
    } else {
      for (char& c : dotted) c = c == '/' ? '.' : c;
    }
    if (key.empty() || rel.find("..") != std::string::npos || rel[0] == '/' ||
        value.find('\0') != std::string::npos)
      return Status::InvalidArgument("bad sysctl " + key);
    RETURN_IF_ERROR(CheckSysctlAllowed(dotted, spec));
    out.sysctls.push_back({arena.Str("sys/" + rel), arena.Str(value)});
  }
  return Status::Ok();
}

}  // namespace imgfs::runc
