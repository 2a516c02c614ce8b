#include "runc-lite/plan_builder.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <map>
#include <set>
#include <sstream>

#include "runc-lite/capabilities.h"
#include "runc-lite/child_util.h"
#include "runc-lite/seccomp.h"

namespace imgfs::runc {
namespace {

struct MountFlag {
  bool clear;
  unsigned long flag;
};

const std::map<std::string, MountFlag>& FlagTable() {
  static const std::map<std::string, MountFlag> t = {
      {"defaults", {false, 0}},          {"ro", {false, MS_RDONLY}},
      {"rw", {true, MS_RDONLY}},         {"suid", {true, MS_NOSUID}},
      {"nosuid", {false, MS_NOSUID}},    {"dev", {true, MS_NODEV}},
      {"nodev", {false, MS_NODEV}},      {"exec", {true, MS_NOEXEC}},
      {"noexec", {false, MS_NOEXEC}},    {"sync", {false, MS_SYNCHRONOUS}},
      {"async", {true, MS_SYNCHRONOUS}}, {"dirsync", {false, MS_DIRSYNC}},
      {"remount", {false, MS_REMOUNT}},  {"mand", {false, MS_MANDLOCK}},
      {"nomand", {true, MS_MANDLOCK}},   {"atime", {true, MS_NOATIME}},
      {"noatime", {false, MS_NOATIME}},  {"diratime", {true, MS_NODIRATIME}},
      {"nodiratime", {false, MS_NODIRATIME}}, {"relatime", {false, MS_RELATIME}},
      {"norelatime", {true, MS_RELATIME}}, {"strictatime", {false, MS_STRICTATIME}},
      {"nostrictatime", {true, MS_STRICTATIME}}, {"bind", {false, MS_BIND}},
      {"rbind", {false, MS_BIND | MS_REC}}};
  return t;
}

const std::map<std::string, unsigned long>& PropagationTable() {
  static const std::map<std::string, unsigned long> t = {
      {"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
      {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
      {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
      {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC}};
  return t;
}

const std::map<std::string, int>& RlimitTable() {
  static const std::map<std::string, int> t = {
      {"RLIMIT_AS", RLIMIT_AS},           {"RLIMIT_CORE", RLIMIT_CORE},
      {"RLIMIT_CPU", RLIMIT_CPU},         {"RLIMIT_DATA", RLIMIT_DATA},
      {"RLIMIT_FSIZE", RLIMIT_FSIZE},     {"RLIMIT_LOCKS", RLIMIT_LOCKS},
      {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
      {"RLIMIT_NICE", RLIMIT_NICE},       {"RLIMIT_NOFILE", RLIMIT_NOFILE},
      {"RLIMIT_NPROC", RLIMIT_NPROC},     {"RLIMIT_RSS", RLIMIT_RSS},
      {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},   {"RLIMIT_RTTIME", RLIMIT_RTTIME},
      {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING}, {"RLIMIT_STACK", RLIMIT_STACK}};
  return t;
}

std::string Rel(const std::string& abs) { return CleanPath(abs).substr(1); }

Result<UniqueFd> ConnectConsoleSocket(const std::string& path) {
  int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return Status::FromErrno(errno, "socket");
  UniqueFd fd(s);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    return Status::InvalidArgument("console socket path too long: " + path);
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return Status::FromErrno(errno, "connect to console socket " + path);
  return fd;
}

// The home directory of UID from ROOTFS/etc/passwd (resolved inside the rootfs), or "/".
std::string HomeOf(const std::string& rootfs, uint32_t uid) {
  int root = ::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return "/";
  UniqueFd root_fd(root);
  UniqueFd fd(child::OpenInRoot(root, "etc/passwd", O_RDONLY));
  if (!fd.valid()) return "/";
  std::string text;
  char buf[4096];
  ssize_t n;
  while (text.size() < (1 << 20) && (n = ::read(fd.get(), buf, sizeof buf)) > 0)
    text.append(buf, static_cast<size_t>(n));
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::istringstream ls(line);
    std::string field;
    while (std::getline(ls, field, ':')) f.push_back(field);
    if (f.size() >= 6 && f[2] == std::to_string(uid) && !f[5].empty()) return f[5];
  }
  return "/";
}

}  // namespace

Result<std::string> MountPointOf(const std::string& path) {
  ASSIGN_OR_RETURN(std::string info, ReadFileToString("/proc/self/mountinfo", 16 << 20));
  std::istringstream in(info);
  std::string line, best = "/";
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, mount_point;
    if (!(fields >> id >> parent >> devno >> root >> mount_point)) continue;
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    std::string mp;
    for (size_t i = 0; i < mount_point.size(); ++i) {
      if (mount_point[i] == '\\' && i + 3 < mount_point.size()) {
        mp += static_cast<char>(std::stoi(mount_point.substr(i + 1, 3), nullptr, 8));
        i += 3;
      } else {
        mp += mount_point[i];
      }
    }
    bool prefix = mp == "/" || path == mp || path.rfind(mp + "/", 0) == 0;
    if (prefix && mp.size() >= best.size()) best = mp;
  }
  return best;
}

std::vector<DeviceRule> ImplicitDeviceRules(const Spec& spec) {
  // What runc always allows: the default nodes, ptys, and every node the spec creates.
  std::vector<DeviceRule> rules;
  auto allow = [&](const char* type, std::optional<int64_t> major, std::optional<int64_t> minor,
                   const char* access) {
    rules.push_back(DeviceRule{true, type, major, minor, access});
  };
  allow("c", 1, 3, "rwm");    // null
  allow("c", 1, 5, "rwm");    // zero
  allow("c", 1, 7, "rwm");    // full
  allow("c", 1, 8, "rwm");    // random
  allow("c", 1, 9, "rwm");    // urandom
  allow("c", 5, 0, "rwm");    // tty
  allow("c", 5, 1, "rwm");    // console
  allow("c", 5, 2, "rwm");    // ptmx
  allow("c", 136, std::nullopt, "rwm");  // pts/*
  for (const Device& d : spec.linux.devices) {
    std::string type = d.type == "u" ? "c" : d.type;
    if (type == "p") continue;
    rules.push_back(DeviceRule{true, type, d.major, d.minor, "rwm"});
  }
  return rules;
}

std::string CleanPath(const std::string& path) {
  std::vector<std::string> parts;
  std::istringstream in(path);
  std::string p;
  while (std::getline(in, p, '/')) {
    if (p.empty() || p == ".") continue;
    if (p == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(p);
  }
  std::string out;
  for (const auto& s : parts) out += "/" + s;
  return out.empty() ? "/" : out;
}

unsigned long long NewNamespaceFlags(const Spec& spec) {
  static const std::map<std::string, unsigned long long> kFlags = {
      {"pid", CLONE_NEWPID}, {"network", CLONE_NEWNET}, {"mount", CLONE_NEWNS},
      {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},     {"user", CLONE_NEWUSER}};
  unsigned long long flags = 0;
  for (const Namespace& ns : spec.linux.namespaces) {
    auto it = kFlags.find(ns.type);
    if (it != kFlags.end() && ns.path.empty()) flags |= it->second;
  }
  return flags;
}

Status BuildProcessPlan(const Process& process, const Spec& spec, const std::string& rootfs,
                        Arena& arena, PlanFds& fds, const std::string& console_socket,
                        int preserve_fds, ProcessPlan& out) {
  if (process.args.empty()) return Status::InvalidArgument("process.args must not be empty");
  const std::string& prog = process.args[0];
  if (prog.find('/') != std::string::npos) {
    out.exec_candidates.push_back(arena.Str(prog));
  } else {
    std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (const std::string& e : process.env)
      if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
    std::istringstream in(path);
    std::string dir;
    while (std::getline(in, dir, ':')) {
      if (dir.empty() || dir[0] != '/') continue;
      out.exec_candidates.push_back(arena.Str(dir + "/" + prog));
    }
  }
  out.argv = arena.Argv(process.args);
  std::vector<std::string> env = process.env;
  bool has_home = false;
  for (const std::string& e : env) has_home = has_home || e.rfind("HOME=", 0) == 0;
  if (!has_home) env.push_back("HOME=" + HomeOf(rootfs, process.user.uid));  // as runc does
  out.envp = arena.Argv(env);
  out.cwd = arena.Str(process.cwd.empty() ? "/" : process.cwd);
  // Checked again here, whatever built PROCESS: setresuid(-1) would leave the runtime's root.
  if (process.user.uid > kMaxId || process.user.gid > kMaxId)
    return Status::InvalidArgument("process.user: uid/gid must be 0.." + std::to_string(kMaxId));
  for (uint32_t g : process.user.additional_gids)
    if (g > kMaxId)
      return Status::InvalidArgument("process.user.additionalGids: " + std::to_string(g) +
                                     " is not a valid id");
  out.uid = process.user.uid;
  out.gid = process.user.gid;
  out.groups.assign(process.user.additional_gids.begin(), process.user.additional_gids.end());
  out.umask = static_cast<int>(process.user.umask.value_or(022));
  if (process.capabilities) {
    const Capabilities& c = *process.capabilities;
    out.set_caps = true;
    ASSIGN_OR_RETURN(out.cap_bounding, CapabilityMask(c.bounding));
    ASSIGN_OR_RETURN(out.cap_effective, CapabilityMask(c.effective));
    ASSIGN_OR_RETURN(out.cap_permitted, CapabilityMask(c.permitted));
    ASSIGN_OR_RETURN(out.cap_inheritable, CapabilityMask(c.inheritable));
    ASSIGN_OR_RETURN(out.cap_ambient, CapabilityMask(c.ambient));
  }
  out.no_new_privs = process.no_new_privileges;
  for (const Rlimit& rl : process.rlimits) {
    auto it = RlimitTable().find(rl.type);
    if (it == RlimitTable().end()) return Status::InvalidArgument("unknown rlimit " + rl.type);
    out.rlimits.push_back({it->second, rl.soft, rl.hard});
  }
  if (spec.linux.seccomp) {
    ASSIGN_OR_RETURN(CompiledSeccomp sc, CompileSeccomp(*spec.linux.seccomp));
    out.seccomp = std::move(sc.program);
    out.seccomp_flags = sc.flags;
  }
  out.terminal = process.terminal;
  if (process.console_size) {
    out.rows = static_cast<unsigned short>(process.console_size->height);
    out.cols = static_cast<unsigned short>(process.console_size->width);
  }
  if (!console_socket.empty()) {
    ASSIGN_OR_RETURN(UniqueFd sock, ConnectConsoleSocket(console_socket));
    out.console_fd = fds.Keep(std::move(sock));
  } else if (process.terminal) {
    return Status::InvalidArgument(
        "cannot allocate tty if runc-lite will detach without setting console socket");
  }
  for (int i = 0; i < preserve_fds; ++i) out.preserve_fds.push_back(3 + i);
  return Status::Ok();
}

Status BuildInitPlan(const Spec& spec, const CreateOptions& opts, const std::string& rootfs,
                     const CgroupLayout& layout, const ContainerState& state, Arena& arena,
                     PlanFds& fds, InitPlan& out) {
  if (spec.FindNamespace("mount") == nullptr || !spec.FindNamespace("mount")->path.empty())
    return Status::InvalidArgument("a new mount namespace is required");
  out.rootfs = arena.Str(rootfs);
  out.no_pivot = opts.no_pivot;
  out.readonly_rootfs = spec.root_readonly;
  out.has_user_ns = spec.FindNamespace("user") != nullptr;
  const Namespace* cg = spec.FindNamespace("cgroup");
  out.unshare_cgroup = cg != nullptr && cg->path.empty();
  static const std::vector<std::pair<std::string, int>> kJoinOrder = {
      {"user", CLONE_NEWUSER}, {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},
      {"network", CLONE_NEWNET}, {"cgroup", CLONE_NEWCGROUP}, {"mount", CLONE_NEWNS}};
  for (const auto& [type, flag] : kJoinOrder) {
    const Namespace* ns = spec.FindNamespace(type);
    if (ns == nullptr || ns->path.empty()) continue;
    ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(ns->path, O_RDONLY));
    out.joins.push_back({fds.Keep(std::move(fd)), flag});
  }
  if (!spec.hostname.empty()) out.hostname = arena.Str(spec.hostname);
  if (!spec.domainname.empty()) out.domainname = arena.Str(spec.domainname);
  const std::string& prop = spec.linux.rootfs_propagation;
  out.root_propagation = prop.empty() ? (MS_SLAVE | MS_REC) : PropagationTable().at(prop);
  ASSIGN_OR_RETURN(std::string parent_mount, MountPointOf(rootfs));
  out.rootfs_parent_mount = arena.Str(parent_mount);

  bool dev_is_tmpfs = false;
  for (const Mount& m : spec.mounts) {
    std::string dest = CleanPath(m.destination);
    MountOp op;
    op.dest = arena.Str(dest.substr(1));
    op.fstype = m.type.empty() ? nullptr : arena.Str(m.type);
    std::string data;
    for (const std::string& o : m.options) {
      if (auto f = FlagTable().find(o); f != FlagTable().end()) {
        if (f->second.clear) op.flags &= ~f->second.flag;
        else op.flags |= f->second.flag;
      } else if (auto p = PropagationTable().find(o); p != PropagationTable().end()) {
        op.propagation = p->second;
      } else if (o == "tmpcopyup" || o == "rro" || o == "rrw" || o == "nosymfollow") {
        // accepted, not applied
      } else if (o == "idmap" || o == "ridmap") {
        return Status::Unimplemented("idmapped mounts are not supported: " + m.destination);
      } else {
        data += (data.empty() ? "" : ",") + o;
      }
    }
    if (!data.empty()) op.data = arena.Str(data);
    const bool bind = m.type == "bind" || (op.flags & MS_BIND);
    if (dest == "/proc" && m.type != "proc")
      return Status::InvalidArgument("refusing to mount a non-procfs (" + m.type + ") onto /proc");
    if (dest == "/dev" && (m.type == "tmpfs" || m.type == "devtmpfs")) dev_is_tmpfs = true;
    if (bind) {
      op.kind = MountKind::kBind;
      std::string src = m.source;
      if (src.empty() || src[0] != '/') src = opts.bundle + "/" + src;
      struct stat st;
      if (::stat(src.c_str(), &st) != 0) return Status::FromErrno(errno, "bind source " + src);
      op.source = arena.Str(src);
      op.target_is_file = !S_ISDIR(st.st_mode);
      op.remount = (op.flags & ~(MS_BIND | MS_REC)) != 0;
      out.mounts.push_back(op);
      continue;
    }
    op.source = arena.Str(m.source.empty() ? m.type : m.source);
    if (m.type == "proc") op.kind = MountKind::kProc;
    if (m.type == "cgroup" || m.type == "cgroup2") {
      if (layout.unified_only()) {
        op.fstype = "cgroup2";
        op.source = "cgroup";
        out.mounts.push_back(op);
        continue;
      }
      // v1/hybrid: a tmpfs with the container's own directory of each hierarchy bound in.
      MountOp tmpfs = op;
      tmpfs.fstype = "tmpfs";
      tmpfs.source = "tmpfs";
      tmpfs.flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
      tmpfs.data = "mode=755";
      out.mounts.push_back(tmpfs);
      std::set<std::string> done;
      for (const auto& [controller, dir] : state.cgroup_paths) {
        if (!done.insert(dir).second) continue;
        std::string mount_point = controller == "unified" ? layout.unified_mount
                                                          : layout.v1.at(controller);
        std::string name = mount_point.substr(mount_point.rfind('/') + 1);
        MountOp b;
        b.kind = MountKind::kBind;
        b.source = arena.Str(dir);
        b.dest = arena.Str(dest.substr(1) + "/" + name);
        b.flags = MS_BIND | (op.flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC));
        b.remount = (b.flags & ~MS_BIND) != 0;
        out.mounts.push_back(b);
      }
      if (op.flags & MS_RDONLY) {  // the tmpfs itself becomes read-only once populated
        MountOp ro = tmpfs;
        ro.flags |= MS_REMOUNT | MS_RDONLY;
        ro.propagation = 0;
        out.mounts.push_back(ro);
      }
      continue;
    }
    out.mounts.push_back(op);
  }

  out.make_devices = dev_is_tmpfs;
  struct DefaultDev {
    const char* name;
    int major, minor;
  };
  static const DefaultDev kDefaults[] = {{"null", 1, 3},    {"zero", 1, 5}, {"full", 1, 7},
                                         {"random", 1, 8},  {"urandom", 1, 9}, {"tty", 5, 0}};
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
  if (!spec.linux.devices.empty()) out.make_devices = true;

  for (const std::string& p : spec.linux.masked_paths) out.masked_paths.push_back(arena.Str(CleanPath(p)));
  for (const std::string& p : spec.linux.readonly_paths)
    out.readonly_paths.push_back(arena.Str(CleanPath(p)));
  for (const auto& [key, value] : spec.linux.sysctl) {
    std::string rel = key;
    if (rel.find('/') == std::string::npos)
      for (char& c : rel) c = c == '.' ? '/' : c;
    if (rel.find("..") != std::string::npos) return Status::InvalidArgument("bad sysctl " + key);
    out.sysctls.push_back({arena.Str("sys/" + rel), arena.Str(value)});
  }
  for (const Hook& h : spec.hooks.start_container) {
    std::vector<std::string> args = h.args.empty() ? std::vector<std::string>{h.path} : h.args;
    out.start_hooks.push_back({arena.Str(h.path), arena.Argv(args), arena.Argv(h.env),
                               h.timeout.value_or(0)});
  }
  out.wait_hooks = !spec.hooks.prestart.empty() || !spec.hooks.create_runtime.empty() ||
                   !spec.hooks.create_container.empty();

  // The host /dev/null for masking, checked to be the real one.
  ASSIGN_OR_RETURN(UniqueFd null_fd, OpenFile("/dev/null", O_PATH));
  struct stat st;
  if (::fstat(null_fd.get(), &st) != 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
    return Status::PermissionDenied("/dev/null is not the null device");
  out.null_fd = fds.Keep(std::move(null_fd));
  return BuildProcessPlan(*spec.process, spec, rootfs, arena, fds, opts.console_socket,
                          opts.preserve_fds, out.process);
}

}  // namespace imgfs::runc
