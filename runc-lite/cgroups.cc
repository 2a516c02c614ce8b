#include "runc-lite/cgroups.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <set>
#include <sstream>

#include "core/log.h"

namespace imgfs::runc {
namespace {

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  return out;
}

Result<std::string> ReadSmall(const std::string& path) { return ReadFileToString(path, 1 << 20); }

// Creates DIR and its parents. For cpuset (v1), copies cpus/mems down from the parent so tasks
// can join.
Status MkdirCgroup(const std::string& mount, const std::string& rel, bool cpuset) {
  std::string cur = mount;
  for (const std::string& part : Split(rel, '/')) {
    if (part.empty()) continue;
    if (part == "..") return Status::InvalidArgument("cgroupsPath must not contain ..");
    std::string parent = cur;
    cur += "/" + part;
    if (::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST)
      return Status::FromErrno(errno, "mkdir " + cur);
    if (cpuset) {
      for (const char* f : {"cpuset.cpus", "cpuset.mems"}) {
        Result<std::string> mine = ReadSmall(cur + "/" + f);
        if (mine.ok() && mine->find_first_not_of(" \n") == std::string::npos) {
          Result<std::string> theirs = ReadSmall(parent + "/" + f);
          if (theirs.ok()) (void)WriteCgroupValue(cur, f, *theirs);
        }
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Status WriteCgroupValue(const std::string& dir, const std::string& file, const std::string& value) {
  std::string path = dir + "/" + file;
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_WRONLY));
  if (RetryOnEintr([&] { return ::write(fd.get(), value.data(), value.size()); }) < 0)
    return Status::FromErrno(errno, "write " + value + " to " + path);
  return Status::Ok();
}

namespace {

// Whether MOUNT_POINT shows the mount that mountinfo lists with DEVNO ("major:minor") and is a
// filesystem of MAGIC: a mount hidden under another one (a tmpfs over /sys/fs/cgroup), or a
// path that is not a cgroup filesystem at all, is not part of the layout.
bool VisibleCgroupMount(const std::string& mount_point, const std::string& devno, long magic) {
  unsigned major = 0, minor = 0;
  if (std::sscanf(devno.c_str(), "%u:%u", &major, &minor) != 2) return false;
  struct stat st;
  struct statfs sfs;
  return ::stat(mount_point.c_str(), &st) == 0 && st.st_dev == makedev(major, minor) &&
         ::statfs(mount_point.c_str(), &sfs) == 0 && sfs.f_type == magic;
}

}  // namespace

Result<CgroupLayout> DetectCgroupLayout() {
  return DetectCgroupLayout(ReadFileToString("/proc/self/mountinfo", 16 << 20), VisibleCgroupMount);
}

Result<CgroupLayout> DetectCgroupLayout(const Result<std::string>& mountinfo,
                                        const CgroupMountCheck& visible) {
  if (!mountinfo.ok()) return mountinfo.status();
  CgroupLayout layout;
  std::istringstream in(*mountinfo);
  std::string line;
  while (std::getline(in, line)) {
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::vector<std::string> pre = Split(line.substr(0, dash), ' ');
    std::vector<std::string> post = Split(line.substr(dash + 3), ' ');
    if (pre.size() < 5 || post.size() < 3) continue;
    const std::string& mnt = pre[4];
    if (post[0] == "cgroup2") {
      if (!visible(mnt, pre[2], CGROUP2_SUPER_MAGIC)) continue;
      if (layout.unified_mount.empty() || mnt == "/sys/fs/cgroup") layout.unified_mount = mnt;
    } else if (post[0] == "cgroup") {
      if (!visible(mnt, pre[2], CGROUP_SUPER_MAGIC)) continue;
      for (const std::string& opt : Split(post[2], ',')) {
        static const std::set<std::string> kNotControllers = {
            "rw",    "ro",     "relatime", "noatime",        "nosuid",
            "nodev", "noexec", "xattr",    "clone_children", "nsdelegate"};
        if (kNotControllers.count(opt) || opt.rfind("release_agent", 0) == 0) continue;
        layout.v1.emplace(opt, mnt);
      }
    }
  }
  if (layout.v1.empty() && layout.unified_mount.empty())
    return Status::NotFound("no cgroup filesystem is mounted");
  return layout;
}

Result<std::string> CgroupRelativePath(const std::string& cgroups_path, const std::string& id) {
  std::string rel = cgroups_path.empty() ? "/runc-lite/" + id : cgroups_path;
  if (rel[0] != '/') {
    if (rel.find(':') != std::string::npos)
      return Status::Unimplemented("systemd cgroup paths (\"" + rel +
                                   "\") are not supported; use the cgroupfs driver");
    rel = "/" + rel;
  }
  return rel;
}

Status CreateCgroups(const CgroupLayout& layout, const std::string& cgroups_path,
                     const std::string& id, ContainerState& state) {
  ASSIGN_OR_RETURN(std::string rel, CgroupRelativePath(cgroups_path, id));
  state.cgroup_paths.clear();
  state.cgroup_v2 = layout.unified_only();
  std::set<std::string> made;
  for (const auto& [controller, mount] : layout.v1) {
    std::string dir = mount + rel;
    if (made.insert(dir).second)
      RETURN_IF_ERROR(MkdirCgroup(mount, rel, mount.find("cpuset") != std::string::npos));
    state.cgroup_paths[controller] = dir;
  }
  if (!layout.unified_mount.empty()) {
    if (state.cgroup_v2) {
      // Enable every available controller down the path so limits can be written.
      std::string cur = layout.unified_mount;
      Result<std::string> avail = ReadSmall(cur + "/cgroup.controllers");
      for (const std::string& part : Split(rel, '/')) {
        if (part.empty()) continue;
        if (avail.ok()) {
          for (const std::string& c : Split(*avail, ' ')) {
            std::string name = c;
            while (!name.empty() && name.back() == '\n') name.pop_back();
            if (!name.empty()) (void)WriteCgroupValue(cur, "cgroup.subtree_control", "+" + name);
          }
        }
        cur += "/" + part;
        if (::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST)
          return Status::FromErrno(errno, "mkdir " + cur);
        avail = ReadSmall(cur + "/cgroup.controllers");
      }
    } else {
      RETURN_IF_ERROR(MkdirCgroup(layout.unified_mount, rel, false));
    }
    state.cgroup_paths["unified"] = layout.unified_mount + rel;
  }
  return Status::Ok();
}

Status AddPidToCgroups(const ContainerState& state, int pid, bool skip_unified) {
  std::set<std::string> done;
  std::string p = std::to_string(pid);
  for (const auto& [controller, dir] : state.cgroup_paths) {
    if (controller == "unified" && skip_unified) continue;
    if (!done.insert(dir).second) continue;
    RETURN_IF_ERROR(WriteCgroupValue(dir, "cgroup.procs", p));
  }
  return Status::Ok();
}

UniqueFd OpenUnifiedCgroup(const ContainerState& state) {
  auto it = state.cgroup_paths.find("unified");
  if (it == state.cgroup_paths.end()) return UniqueFd();
  Result<UniqueFd> fd = OpenFile(it->second, O_PATH | O_DIRECTORY);
  return fd.ok() ? std::move(*fd) : UniqueFd();
}

namespace {
// The directory whose cgroup.procs lists every process of the container.
std::string ProcsDir(const ContainerState& state) {
  for (const char* c : {"pids", "freezer", "memory", "cpu", "devices"}) {
    auto it = state.cgroup_paths.find(c);
    if (it != state.cgroup_paths.end()) return it->second;
  }
  auto it = state.cgroup_paths.find("unified");
  return it == state.cgroup_paths.end() ? "" : it->second;
}
}  // namespace

Result<std::vector<int>> CgroupPids(const ContainerState& state) {
  std::string dir =
      state.cgroup_v2 ? state.cgroup_paths.count("unified") ? state.cgroup_paths.at("unified") : ""
                      : ProcsDir(state);
  if (dir.empty()) return Status::NotFound("container has no cgroup");
  std::vector<int> pids;
  Result<std::string> text = ReadSmall(dir + "/cgroup.procs");
  if (!text.ok()) {
    if (text.status().error_number() == ENOENT) return pids;
    return text.status();
  }
  std::istringstream in(*text);
  int pid;
  while (in >> pid) pids.push_back(pid);
  return pids;
}

Status FreezeCgroup(const ContainerState& state, bool freeze) {
  if (state.cgroup_v2) {
    auto it = state.cgroup_paths.find("unified");
    if (it == state.cgroup_paths.end()) return Status::NotFound("container has no cgroup");
    RETURN_IF_ERROR(WriteCgroupValue(it->second, "cgroup.freeze", freeze ? "1" : "0"));
    for (int i = 0; i < 1000; ++i) {
      Result<std::string> ev = ReadSmall(it->second + "/cgroup.events");
      if (ev.ok() && ev->find(freeze ? "frozen 1" : "frozen 0") != std::string::npos)
        return Status::Ok();
      ::usleep(1000);
    }
    return Status::Unavailable("timed out waiting for cgroup.events frozen");
  }
  auto it = state.cgroup_paths.find("freezer");
  if (it == state.cgroup_paths.end()) return Status::Unimplemented("no freezer cgroup");
  const char* want = freeze ? "FROZEN" : "THAWED";
  for (int i = 0; i < 1000; ++i) {
    RETURN_IF_ERROR(WriteCgroupValue(it->second, "freezer.state", want));
    Result<std::string> st = ReadSmall(it->second + "/freezer.state");
    if (st.ok() && st->rfind(want, 0) == 0) return Status::Ok();
    ::usleep(1000);
  }
  return Status::Unavailable("timed out waiting for freezer.state " + std::string(want));
}

bool CgroupIsFrozen(const ContainerState& state) {
  if (state.cgroup_v2) {
    auto it = state.cgroup_paths.find("unified");
    if (it == state.cgroup_paths.end()) return false;
    Result<std::string> v = ReadSmall(it->second + "/cgroup.freeze");
    return v.ok() && v->rfind("1", 0) == 0;
  }
  auto it = state.cgroup_paths.find("freezer");
  if (it == state.cgroup_paths.end()) return false;
  Result<std::string> v = ReadSmall(it->second + "/freezer.state");
  return v.ok() && (v->rfind("FROZEN", 0) == 0 || v->rfind("FREEZING", 0) == 0);
}

Status DestroyCgroups(const ContainerState& state) {
  std::set<std::string> dirs;
  for (const auto& [c, dir] : state.cgroup_paths) dirs.insert(dir);
  Status result;
  for (const std::string& dir : dirs) {
    int rc = -1;
    for (int i = 0; i < 200; ++i) {
      rc = ::rmdir(dir.c_str());
      if (rc == 0 || errno == ENOENT || errno != EBUSY) break;
      ::usleep(5000);
    }
    if (rc != 0 && errno != ENOENT && result.ok())
      result = Status::FromErrno(errno, "rmdir " + dir);
  }
  return result;
}

namespace {

// "a//b/./c/" -> "/a/b/c"; ".." is kept (and refused by the callers).
std::string Normalize(const std::string& path) {
  std::string out;
  for (const std::string& part : Split(path, '/')) {
    if (part.empty() || part == ".") continue;
    out += "/" + part;
  }
  return out.empty() ? "/" : out;
}

bool AtOrBelow(const std::string& path, const std::string& dir) {
  return dir == "/" || path == dir || path.rfind(dir + "/", 0) == 0;
}

// The mount point of CONTROLLER ("unified" for cgroup2) in LAYOUT, or "".
std::string MountOf(const CgroupLayout& layout, const std::string& controller) {
  if (controller == "unified") return layout.unified_mount;
  auto it = layout.v1.find(controller);
  return it == layout.v1.end() ? "" : it->second;
}

// The path of a /proc/PID/cgroup text for CONTROLLER ("unified": the "0::" line), or "".
std::string ProcCgroupPath(const std::string& text, const std::string& controller) {
  for (const std::string& line : Split(text, '\n')) {
    size_t a = line.find(':');
    size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string id = line.substr(0, a), controllers = line.substr(a + 1, b - a - 1);
    if (controller == "unified" ? (id == "0" && controllers.empty()) : [&] {
          for (const std::string& c : Split(controllers, ','))
            if (c == controller) return true;
          return false;
        }())
      return line.substr(b + 1);
  }
  return "";
}

}  // namespace

Status VerifyCgroupPaths(const ContainerState& state, const CgroupLayout& layout,
                         const std::string& self_cgroup) {
  if (state.cgroup_paths.empty()) return Status::Ok();
  Result<Spec> spec = ParseSpec(state.config_json);
  if (!spec.ok()) return spec.status().WithContext("state of " + state.id + ": recorded config");
  ASSIGN_OR_RETURN(std::string rel, CgroupRelativePath(spec->linux.cgroups_path, state.id));
  const std::string clean = Normalize(rel);
  auto refuse = [&](const std::string& dir, const std::string& why) {
    return Status::PermissionDenied("state of " + state.id + " names cgroup " + dir + ", " + why +
                                    ": refusing to touch it");
  };
  for (const auto& [controller, dir] : state.cgroup_paths) {
    std::string mount = MountOf(layout, controller);
    if (mount.empty())
      return refuse(dir, "a hierarchy (" + controller + ") this host does not mount");
    if (dir != mount + rel) return refuse(dir, "not the container's (" + mount + rel + ")");
    if (clean == "/" || clean.find("/../") != std::string::npos || clean.ends_with("/.."))
      return refuse(dir, "a hierarchy's root or outside it");
  }
  for (const std::string& line : Split(self_cgroup, '\n')) {
    size_t b = line.find(':', line.find(':') == std::string::npos ? 0 : line.find(':') + 1);
    if (line.empty() || b == std::string::npos) continue;
    if (AtOrBelow(Normalize(line.substr(b + 1)), clean))
      return refuse(clean, "which holds the runtime itself");
  }
  return Status::Ok();
}

Status VerifyCgroupPaths(const ContainerState& state) {
  if (state.cgroup_paths.empty()) return Status::Ok();
  ASSIGN_OR_RETURN(CgroupLayout layout, DetectCgroupLayout());
  ASSIGN_OR_RETURN(std::string self, ReadSmall("/proc/self/cgroup"));
  return VerifyCgroupPaths(state, layout, self);
}

bool InContainerCgroup(const ContainerState& state, const CgroupLayout& layout,
                       const std::string& proc_cgroup) {
  bool checked = false;
  for (const auto& [controller, dir] : state.cgroup_paths) {
    std::string mount = MountOf(layout, controller);
    if (mount.empty() || dir.size() <= mount.size() || dir.compare(0, mount.size(), mount) != 0)
      return false;
    std::string want = Normalize(dir.substr(mount.size()));
    std::string have = ProcCgroupPath(proc_cgroup, controller);
    // A v1 controller the process's kernel view does not list (unmounted since) proves nothing.
    if (have.empty()) continue;
    if (want == "/" || !AtOrBelow(Normalize(have), want)) return false;
    checked = true;
  }
  return checked;
}

bool PidInContainerCgroup(const ContainerState& state, int pid) {
  Result<CgroupLayout> layout = DetectCgroupLayout();
  if (!layout.ok()) return false;
  Result<std::string> text = ReadSmall("/proc/" + std::to_string(pid) + "/cgroup");
  return text.ok() && InContainerCgroup(state, *layout, *text);
}

}  // namespace imgfs::runc
