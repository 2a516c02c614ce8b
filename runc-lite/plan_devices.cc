// Device planning: linux.devices and the default nodes into the init's DeviceOps, and the
// device cgroup rules runc adds implicitly.
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <set>

#include "runc-lite/plan_builder.h"

namespace imgfs::runc {

std::vector<DeviceRule> ImplicitDeviceRules(const Spec& spec) {
  // What runc always allows: the default nodes, ptys, and every node the spec creates.
  std::vector<DeviceRule> rules;
  auto allow = [&](const char* type, std::optional<int64_t> major, std::optional<int64_t> minor,
                   const char* access) {
    rules.push_back(DeviceRule{true, type, major, minor, access});
  };
  allow("c", 1, 3, "rwm");               // null
  allow("c", 1, 5, "rwm");               // zero
  allow("c", 1, 7, "rwm");               // full
  allow("c", 1, 8, "rwm");               // random
  allow("c", 1, 9, "rwm");               // urandom
  allow("c", 5, 0, "rwm");               // tty
  allow("c", 5, 1, "rwm");               // console
  allow("c", 5, 2, "rwm");               // ptmx
  allow("c", 136, std::nullopt, "rwm");  // pts/*
  for (const Device& d : spec.linux.devices) {
    std::string type = d.type == "u" ? "c" : d.type;
    if (type == "p") continue;
    rules.push_back(DeviceRule{true, type, d.major, d.minor, "rwm"});
  }
  return rules;
}

void PlanDevices(const Spec& spec, Arena& arena, InitPlan& out) {
  struct DefaultDev {
    const char* name;
    int major, minor;
  };
  static const DefaultDev kDefaults[] = {{"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
                                         {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
  std::set<std::string> have;
  for (const Device& d : spec.linux.devices) {
    std::string path = CleanPath(d.path);
    size_t slash = path.rfind('/');
    DeviceOp op;
    op.dir = arena.Str(path.substr(1, slash == 0 ? 0 : slash - 1));
    op.name = arena.Str(path.substr(slash + 1));
    op.host_path = arena.Str(path);
    mode_t type = d.type == "b" ? S_IFBLK : d.type == "p" ? S_IFIFO : S_IFCHR;
    op.mode = type | (d.file_mode.value_or(0666) & 07777);
    op.dev = makedev(static_cast<unsigned>(d.major), static_cast<unsigned>(d.minor));
    op.uid = d.uid.value_or(0);
    op.gid = d.gid.value_or(0);
    out.devices.push_back(op);
    have.insert(path);
  }
  for (const DefaultDev& d : kDefaults) {
    std::string path = std::string("/dev/") + d.name;
    if (have.count(path)) continue;
    DeviceOp op;
    op.dir = "dev";
    op.name = d.name;
    op.host_path = arena.Str(path);
    op.mode = S_IFCHR | 0666;
    op.dev = makedev(d.major, d.minor);
    out.devices.push_back(op);
  }
  // runc creates the default nodes and /dev links in every container whose /dev is not a bind
  // mount (the image's own /dev otherwise may lack them). Without a tmpfs on /dev they go into
  // the rootfs itself; a read-only rootfs keeps what it has (best effort).
  bool dev_bound = false, dev_tmpfs = false;
  for (const Mount& m : spec.mounts) {
    if (CleanPath(m.destination) != "/dev") continue;
    bool bind = m.type == "bind";
    for (const std::string& o : m.options) bind = bind || o == "bind" || o == "rbind";
    dev_bound = bind;
    dev_tmpfs = !bind && (m.type == "tmpfs" || m.type == "devtmpfs");
  }
  out.make_devices = !dev_bound || !spec.linux.devices.empty();
  if (!dev_tmpfs)
    for (DeviceOp& op : out.devices) op.best_effort = op.dir == std::string("dev");
}

}  // namespace imgfs::runc
