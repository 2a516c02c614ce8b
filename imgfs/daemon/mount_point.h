// Where a mount goes. A daemon that crashed (or was killed) leaves its FUSE mounts behind,
// dead: every request that reaches it fails with ENOTCONN (statfs() always does; stat() may
// be answered from the attribute cache for a while). Mounting the same point again must replace
// such a mount, not stack a new one on top of it (the dead one would resurface after an unmount).
// Thread-safe (no state).
#pragma once

#include <string>
#include <vector>

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

// One line of /proc/self/mountinfo, unescaped.
struct MountEntry {
  std::string point;
  std::string type;     // "fuse.imgfs", "overlay", ...
  std::string source;   // the mount's fsname
  std::string options;  // the superblock's options ("lowerdir=...,upperdir=..." for overlay)
};
// The mounts of a mountinfo text, in its order (the topmost of a point last).
std::vector<MountEntry> ParseMountInfo(const std::string& text);

// Each mount an imgfs daemon makes has the source "imgfs:" + the store's absolute path (as the
// store was given when the path does not resolve): the CLI finds a mount's daemon from it.
std::string MountSource(const std::string& store_path);
// The store whose daemon serves the topmost imgfs mount at exactly `path` (absolute), from
// /proc/self/mountinfo; NotFound when no imgfs mount is there. The answer names a socket the CLI
// will talk to, never trusts: a mount made by anyone can claim any store.
Result<std::string> StoreOfMount(const std::string& path);
// Whether an overlay in TABLE has PATH as one of its lower directories (what an overlay holds
// does not keep the mount below busy: overlayfs clones it privately).
bool OverlayUsesLower(const std::vector<MountEntry>& table, const std::string& path);
// The mounts of this mount namespace, from /proc/self/mountinfo.
std::vector<MountEntry> ReadMountTable();
// Every imgfs mount of this mount namespace, from /proc/self/mountinfo.
std::vector<MountEntry> ImgfsMounts();

}  // namespace imgfs::daemon
