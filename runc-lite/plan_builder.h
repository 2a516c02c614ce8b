// Turns a parsed Spec into the InitPlan / ProcessPlan that the child executes (init_plan.h).
// Runs in the runtime before clone(); opens the fds the plan names (O_CLOEXEC, owned by the
// returned PlanFds). Thread-compatible.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/fd.h"
#include "core/status.h"
#include "runc-lite/cgroups.h"
#include "runc-lite/init_plan.h"
#include "runc-lite/spec.h"
#include "runc-lite/state_store.h"

namespace imgfs::runc {

struct CreateOptions {
  std::string id;
  std::string bundle;  // absolute
  std::string pid_file;
  std::string console_socket;
  int console_fd = -1;  // instead of console_socket: run's own foreground pty (pty_relay.h)
  bool no_pivot = false;
  int preserve_fds = 0;
  std::string cdi_root = "/";  // CDI specs are read from CDI_ROOT/etc/cdi, CDI_ROOT/var/run/cdi
};

// Fds the plan refers to; closing them is the caller's job once the child is released.
struct PlanFds {
  std::vector<UniqueFd> fds;
  int Keep(UniqueFd fd) {
    int raw = fd.get();
    fds.push_back(std::move(fd));
    return raw;
  }
};

// The process part, for init (SPEC.process) and exec (an exec process + the container's spec).
// ROOTFS (host path) supplies HOME from /etc/passwd when the env has none.
// The pty master goes to CONSOLE_SOCKET, else to CONSOLE_FD (a connected socket the caller keeps
// open until the child is released); a terminal with neither is refused.
Status BuildProcessPlan(const Process& process, const Spec& spec, const std::string& rootfs,
                        Arena& arena, PlanFds& fds, const std::string& console_socket,
                        int console_fd, int preserve_fds, ProcessPlan& out);

// Everything else for init. ROOTFS is the absolute rootfs; STATE carries the cgroup dirs.
// Calls the Plan* pieces below in order.
Status BuildInitPlan(const Spec& spec, const CreateOptions& opts, const std::string& rootfs,
                     const CgroupLayout& layout, const ContainerState& state, Arena& arena,
                     PlanFds& fds, InitPlan& out);

// The pieces of BuildInitPlan, each filling its part of OUT.
// Namespaces: a mount namespace is required (new, or joined by path as it is: no rootfs set-up
// in it); ones given by path are opened (into FDS) to be joined, user first and mount last;
// hostname, domainname and the propagation of "/".
Status PlanNamespaces(const Spec& spec, Arena& arena, PlanFds& fds, InitPlan& out);
// Mounts (plan_mounts.cc): options into MS_* flags, propagation and data; bind sources relative
// to BUNDLE and stat()ed; cgroup mounts as cgroup2 or, on v1/hybrid, a tmpfs with the
// container's own directory (STATE) of each hierarchy (LAYOUT) bound in; a non-procfs onto
// /proc is refused.
Status PlanMounts(const Spec& spec, const std::string& bundle, const CgroupLayout& layout,
                  const ContainerState& state, Arena& arena, InitPlan& out);
// Devices (plan_devices.cc): linux.devices, then the default nodes they do not replace; made in
// every container whose /dev is not a bind mount.
void PlanDevices(const Spec& spec, Arena& arena, InitPlan& out);
// Sysctls (plan_sysctls.cc): "net.ipv4.ip_forward" or "net/ipv4/ip_forward" -> /proc
// "sys/net/ipv4/ip_forward"; a key with ".." is refused, and so is every key that
// CheckSysctlAllowed refuses.
Status PlanSysctls(const Spec& spec, Arena& arena, InitPlan& out);
// Whether the container of SPEC may set DOTTED_KEY: net.* only with a network namespace of its
// own, kernel.{msg*,sem,shm*} and fs.mqueue.* with an IPC one, kernel.hostname/domainname with a
// UTS one (a namespace given by path must differ from this process's). Every other key is global
// to the host: PermissionDenied.
Status CheckSysctlAllowed(const std::string& dotted_key, const Spec& spec);
// Masked and read-only paths, cleaned.
void PlanMaskedPaths(const Spec& spec, Arena& arena, InitPlan& out);

// Clone flags for the namespaces SPEC creates (no path), except cgroup (unshared by the child
// after it joins its cgroup) and time (unshared by the runtime before clone).
unsigned long long NewNamespaceFlags(const Spec& spec);

// Device cgroup rules added after linux.resources.devices, as runc does: the default devices,
// /dev/console, ptmx and pts, and every linux.devices entry.
std::vector<DeviceRule> ImplicitDeviceRules(const Spec& spec);

// The mount point of the mount that contains PATH (longest prefix in /proc/self/mountinfo).
Result<std::string> MountPointOf(const std::string& path);

// Lexically cleans an absolute path ("/a/../b//c/" -> "/b/c"); never above "/".
std::string CleanPath(const std::string& path);

}  // namespace imgfs::runc
