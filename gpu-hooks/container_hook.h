// The work of imgfs-gpu-hook, an OCI createContainer hook: inside the container's root
// filesystem, create the driver libraries' symlinks (libcuda.so.1 -> libcuda.so.550.54.14,
// libcuda.so -> libcuda.so.1), write /etc/ld.so.conf.d/00-imgfs-gpu.conf, and run the image's own
// ldconfig so the loader cache knows the injected libraries.
//
// Threat model: the image is hostile, the hook is root in the host's filesystem view (at
// createContainer the runtime runs hooks in the container's mount namespace *before* pivot_root,
// so the host tree is still reachable). Therefore:
//   - every path inside the rootfs is resolved with openat2(RESOLVE_IN_ROOT |
//   RESOLVE_NO_MAGICLINKS)
//     (a component-wise O_NOFOLLOW walk where openat2 is missing); files are created with
//     *at() calls relative to a resolved parent and O_NOFOLLOW, so an image whose /usr/lib is a
//     symlink to "/" writes into its own root, never the host's;
//   - nothing from the image is loaded into the hook's process; the image's ldconfig runs in a
//     forked child that unshares a mount namespace, pivots into the rootfs (the host tree is
//     detached, as are proc/sysfs mounts), drops every capability (bounding set included), sets
//     no_new_privs, closes all fds and execs with env {PATH=...} only, under a timeout;
//   - the hook reads no environment variable at all.
// Not thread-safe (forks); call from a single-threaded process or accept fork's usual caveats.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace imgfs::gpu {

struct ContainerHookOptions {
  std::string rootfs;  // absolute path of the container's root as the hook sees it
  // (target, link path in the container): symlink LINK -> TARGET, TARGET as written.
  std::vector<std::pair<std::string, std::string>> links;
  std::vector<std::string> folders;  // container dirs to list in ld.so.conf.d
  bool run_ldconfig = true;
  bool mask_driver_params = true;  // /proc/driver/nvidia/params with ModifyDeviceFiles: 0
  int ldconfig_timeout_s = 30;
};

struct ContainerHookReport {
  int links_created = 0;
  int links_present = 0;  // already there with the same target
  bool ldconfig_ran = false;
  bool driver_params_masked = false;
  std::string ldconfig_path;          // inside the rootfs
  std::vector<std::string> warnings;  // e.g. "no ldconfig in the image: cache not updated"
};

// imgfs-gpu-hook's argument list (without argv[0]): --link TARGET::LINK, --folder DIR,
// --rootfs DIR (instead of the state on stdin), --no-ldconfig, --ldconfig-timeout SECONDS,
// --no-mask-driver-params.
Result<ContainerHookOptions> ParseContainerHookArgs(const std::vector<std::string>& args);

// The rootfs from the OCI state JSON (stdin of a hook): BUNDLE/config.json's root.path, taken
// relative to the bundle when not absolute.
Result<std::string> RootfsFromState(const std::string& state_json);

Result<ContainerHookReport> RunContainerHook(const ContainerHookOptions& options);

}  // namespace imgfs::gpu
