#include "imgfs/daemon/mount_point.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <climits>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/log.h"

namespace imgfs::daemon {
namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    auto octal = [&](size_t k) { return s[k] >= '0' && s[k] <= '7'; };
    if (s[i] == '\\' && i + 3 < s.size() && octal(i + 1) && octal(i + 2) && octal(i + 3)) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

// statfs() always reaches the FUSE server (stat() may be answered from the kernel's attribute
// cache for a while after the server died).
bool IsDead(const std::string& path) {
  struct statfs fs;
  return ::statfs(path.c_str(), &fs) != 0 && errno == ENOTCONN;
}

}  // namespace

std::vector<MountEntry> ParseMountInfo(const std::string& text) {
  std::vector<MountEntry> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPEROPTIONS
    std::istringstream fields(line);
    std::string id, parent, dev, root, point, field, type, source;
    if (!(fields >> id >> parent >> dev >> root >> point)) continue;
    while (fields >> field && field != "-") {
    }
    if (!(fields >> type)) continue;
    std::string options;
    fields >> source >> options;
    out.push_back({Unescape(point), type, Unescape(source), Unescape(options)});
  }
  return out;
}

bool OverlayUsesLower(const std::vector<MountEntry>& table, const std::string& path) {
  for (const MountEntry& e : table) {
    if (e.type != "overlay") continue;
    std::istringstream options(e.options);
    for (std::string option; std::getline(options, option, ',');) {
      size_t eq = option.find('=');
      if (eq == std::string::npos) continue;
      std::string key = option.substr(0, eq);
      if (key != "lowerdir" && key != "lowerdir+" && key != "datadir+") continue;
      std::istringstream dirs(option.substr(eq + 1));
      for (std::string dir; std::getline(dirs, dir, ':');)
        if (dir == path) return true;
    }
  }
  return false;
}

std::vector<MountEntry> ReadMountTable() {
  std::ifstream in("/proc/self/mountinfo");
  std::stringstream text;
  text << in.rdbuf();
  return ParseMountInfo(text.str());
}
namespace {
constexpr char kSourcePrefix[] = "imgfs:";
}  // namespace

std::string MountTypeAt(const std::string& path) {
  std::string type;
  for (const MountEntry& e : ReadMountTable())
    if (e.point == path) type = e.type;  // the last match is the topmost mount
  return type;
}

std::string MountSource(const std::string& store_path) {
  char real[PATH_MAX];
  return kSourcePrefix + std::string(::realpath(store_path.c_str(), real) ? real : store_path);
}

Result<std::string> StoreOfMount(const std::string& path) {
  const MountEntry* top = nullptr;
  std::vector<MountEntry> table = ReadMountTable();
  for (const MountEntry& e : table)
    if (e.point == path) top = &e;
  if (!top || top->type != "fuse.imgfs") return Status::NotFound(path + " is not an imgfs mount");
  if (top->source.rfind(kSourcePrefix, 0) != 0 || top->source.size() <= sizeof kSourcePrefix)
    return Status::NotFound(path + " is an imgfs mount of a daemon that does not name its store");
  return top->source.substr(sizeof kSourcePrefix - 1);
}

std::vector<MountEntry> ImgfsMounts() {
  std::vector<MountEntry> out;
  for (MountEntry& e : ReadMountTable())
    if (e.type == "fuse.imgfs") out.push_back(std::move(e));
  return out;
}

Result<MountPoint> ResolveMountPoint(const std::string& path) {
  if (path.empty() || path[0] != '/')
    return Status::InvalidArgument("mountpoint " + path + " is not an absolute path");
  MountPoint mp;
  char real[PATH_MAX];
  // realpath() may or may not stat the last component (glibc only reads links), so a dead
  // mount shows either here or in the stat() after it.
  if (::realpath(path.c_str(), real)) {
    mp.path = real;
    if (IsDead(mp.path)) {
      if (MountTypeAt(mp.path).rfind("fuse", 0) != 0)
        return Status::FromErrno(ENOTCONN, "mountpoint " + path + " (not a dead FUSE mount)");
      mp.dead = true;
      return mp;
    }
    struct stat st;
    if (::stat(real, &st) != 0) return Status::FromErrno(errno, "mountpoint " + path);
    if (!S_ISDIR(st.st_mode))
      return Status::InvalidArgument("mountpoint " + path + " is not a directory");
    return mp;
  }
  if (errno != ENOTCONN) return Status::FromErrno(errno, "mountpoint " + path);
  // The dead mount is the last component: resolve its parent, then name it.
  std::string trimmed = path;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  const size_t slash = trimmed.rfind('/');
  const std::string parent = slash == 0 ? "/" : trimmed.substr(0, slash);
  const std::string name = trimmed.substr(slash + 1);
  if (name.empty() || name == "." || name == "..")
    return Status::InvalidArgument("mountpoint " + path + " is not usable (ENOTCONN)");
  if (!::realpath(parent.c_str(), real)) return Status::FromErrno(errno, "mountpoint " + path);
  mp.path = std::string(real) + (std::string(real) == "/" ? "" : "/") + name;
  if (!IsDead(mp.path) || MountTypeAt(mp.path).rfind("fuse", 0) != 0)
    return Status::FromErrno(ENOTCONN, "mountpoint " + path + " (not a dead FUSE mount)");
  mp.dead = true;
  return mp;
}

Status DetachDeadFuseMount(const std::string& path) {
  // Dead mounts may be stacked (several crashes); each pass removes the topmost.
  for (int i = 0; i < 16 && IsDead(path); ++i) {
    const std::string type = MountTypeAt(path);
    if (type.rfind("fuse", 0) != 0)
      return Status::IOError("mountpoint " + path + " fails with ENOTCONN but is not a FUSE mount");
    IMGFS_LOG(Info) << "replacing the dead " << type << " mount at " << path;
    if (::umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0)
      return Status::FromErrno(errno, "unmount the dead mount at " + path);
  }
  if (IsDead(path)) return Status::IOError("mountpoint " + path + " stays a dead mount");
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status::FromErrno(errno, "mountpoint " + path);
  if (!S_ISDIR(st.st_mode))
    return Status::InvalidArgument("mountpoint " + path + " is not a directory");
  return Status::Ok();
}

}  // namespace imgfs::daemon
