// Cgroups for one container, on v1, v2 and hybrid hosts.
//
// The layout is detected from /proc/self/mountinfo and statfs: "unified" (a cgroup2 at
// /sys/fs/cgroup), "hybrid" (v1 controllers plus an empty cgroup2, usually /sys/fs/cgroup/unified)
// or "legacy". On unified hosts every limit and the freezer are cgroup2 files and the init is
// cloned straight into its cgroup (clone3 CLONE_INTO_CGROUP). Otherwise limits go to the v1
// controllers, the freezer is v1, and the pid is written to each hierarchy's cgroup.procs before
// init is released; on hybrid hosts the container also gets a directory in the cgroup2 tree (as
// runc does), which CLONE_INTO_CGROUP uses. v2 device rules need an eBPF program: runc-lite logs a
// warning and does not enforce them. Functions are thread-compatible; the cgroup files are the
// shared state.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/fd.h"
#include "core/status.h"
#include "runc-lite/spec.h"
#include "runc-lite/state_store.h"

namespace imgfs::runc {

struct CgroupLayout {
  std::string unified_mount;              // "" if there is no cgroup2 mount
  std::map<std::string, std::string> v1;  // controller -> mount point (co-mounts repeat)
  bool unified_only() const { return v1.empty() && !unified_mount.empty(); }
};

// The layout from what is really mounted: cgroup and cgroup2 entries of /proc/self/mountinfo whose
// mount point shows that very mount (st_dev) and is a cgroup filesystem (statfs magic). So a
// host with v1 hierarchies only (no cgroup2 anywhere, or one hidden under a tmpfs) is "legacy"
// and nothing is ever written into a directory that is not a cgroup filesystem.
Result<CgroupLayout> DetectCgroupLayout();
// The same over MOUNTINFO's text, with VISIBLE(mount_point, "major:minor", magic) as the check
// (a seam for tests).
using CgroupMountCheck = std::function<bool(const std::string&, const std::string&, long)>;
Result<CgroupLayout> DetectCgroupLayout(const Result<std::string>& mountinfo,
                                        const CgroupMountCheck& visible);

// Creates the container's directories for CGROUPS_PATH (default "/runc-lite/ID"; a systemd
// "slice:prefix:name" path is refused) and fills PATHS (controller -> dir, "unified" for v2).
Status CreateCgroups(const CgroupLayout& layout, const std::string& cgroups_path,
                     const std::string& id, ContainerState& state);
// Writes RESOURCES into the container's cgroup files.
Status ApplyResources(const ContainerState& state, const Resources& resources);
// Adds PID to every directory of STATE except SKIP_UNIFIED's unified one.
Status AddPidToCgroups(const ContainerState& state, int pid, bool skip_unified);
// An O_PATH fd of the container's cgroup2 directory, for CLONE_INTO_CGROUP; invalid if none.
UniqueFd OpenUnifiedCgroup(const ContainerState& state);
// The host pids in the container's cgroup.
Result<std::vector<int>> CgroupPids(const ContainerState& state);
Status FreezeCgroup(const ContainerState& state, bool freeze);
bool CgroupIsFrozen(const ContainerState& state);
// Removes the container's directories (they must be empty of processes); missing is fine.
Status DestroyCgroups(const ContainerState& state);

// The path CreateCgroups gives a container below each hierarchy's mount: CGROUPS_PATH made
// absolute (default "/runc-lite/ID"); a systemd "slice:prefix:name" path is Unimplemented.
Result<std::string> CgroupRelativePath(const std::string& cgroups_path, const std::string& id);

// A state.json is not trusted to name host cgroups. Checks that every directory of
// STATE.cgroup_paths is exactly the one CreateCgroups makes for this container under LAYOUT
// (its controller's mount + the cgroupsPath recorded in STATE's config), and that this path is
// neither a hierarchy's root nor the cgroup of the runtime itself or one above it (SELF_CGROUP is
// the text of /proc/self/cgroup). PermissionDenied naming the directory otherwise.
Status VerifyCgroupPaths(const ContainerState& state, const CgroupLayout& layout,
                         const std::string& self_cgroup);
// The same against this host's layout and this process's /proc/self/cgroup.
Status VerifyCgroupPaths(const ContainerState& state);

// Whether the process whose /proc/PID/cgroup reads PROC_CGROUP is in STATE's cgroup or below
// it, in every hierarchy STATE has a directory in (under LAYOUT).
bool InContainerCgroup(const ContainerState& state, const CgroupLayout& layout,
                       const std::string& proc_cgroup);
// The same for a live PID; false if it cannot be read.
bool PidInContainerCgroup(const ContainerState& state, int pid);

}  // namespace imgfs::runc

namespace imgfs::runc {
// Writes VALUE to DIR/FILE with one write(2) (cgroup files take one value per write).
Status WriteCgroupValue(const std::string& dir, const std::string& file, const std::string& value);
}  // namespace imgfs::runc
