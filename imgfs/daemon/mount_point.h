// Where a mount goes. A daemon that crashed (or was killed) leaves its FUSE mounts behind,
// dead: every request that reaches it fails with ENOTCONN (statfs() always does; stat() may
// be answered from the attribute cache for a while). Mounting the same point again must replace
// such a mount, not stack a new one on top of it (the dead one would resurface after an unmount).
// Thread-safe (no state).
#pragma once

#include <string>

#include "core/status.h"

namespace imgfs::daemon {

struct MountPoint {
  std::string path;   // absolute, symlinks resolved
  bool dead = false;  // a dead FUSE mount is at `path`
};

// Resolves `path` (which must be absolute). A path whose last component is a dead FUSE mount
// resolves through its parent and comes back with dead = true; any other failure, or a path
// that is not a directory, is an error.
[[nodiscard]] Result<MountPoint> ResolveMountPoint(const std::string& path);

// Lazily unmounts the dead FUSE mounts at exactly `path` (only mounts whose filesystem type is
// fuse*, only while statfs() there fails with ENOTCONN), until a live directory shows there.
[[nodiscard]] Status DetachDeadFuseMount(const std::string& path);

// The filesystem type of the topmost mount at exactly `path` per /proc/self/mountinfo, or ""
// when nothing is mounted there.
std::string MountTypeAt(const std::string& path);

}  // namespace imgfs::daemon
