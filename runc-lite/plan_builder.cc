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
#include "runc-lite/mount_options.h"
#include "runc-lite/passwd.h"
#include "runc-lite/runtime_log.h"
#include "runc-lite/seccomp.h"

namespace imgfs::runc {
namespace {

const std::map<std::string, int>& RlimitTable() {
  static const std::map<std::string, int> t = {{"RLIMIT_AS", RLIMIT_AS},
                                               {"RLIMIT_CORE", RLIMIT_CORE},
                                               {"RLIMIT_CPU", RLIMIT_CPU},
                                               {"RLIMIT_DATA", RLIMIT_DATA},
                                               {"RLIMIT_FSIZE", RLIMIT_FSIZE},
                                               {"RLIMIT_LOCKS", RLIMIT_LOCKS},
                                               {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
                                               {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
                                               {"RLIMIT_NICE", RLIMIT_NICE},
                                               {"RLIMIT_NOFILE", RLIMIT_NOFILE},
                                               {"RLIMIT_NPROC", RLIMIT_NPROC},
                                               {"RLIMIT_RSS", RLIMIT_RSS},
                                               {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
                                               {"RLIMIT_RTTIME", RLIMIT_RTTIME},
                                               {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
                                               {"RLIMIT_STACK", RLIMIT_STACK}};
  return t;
}

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
  std::optional<PasswdEntry> e = FindPasswdEntry(ReadContainerFile(rootfs, "etc/passwd"), uid);
  return e && !e->home.empty() ? e->home : "/";
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
      const auto octal = [&](size_t k) { return mount_point[k] >= '0' && mount_point[k] <= '7'; };
      if (mount_point[i] == '\\' && i + 3 < mount_point.size() && octal(i + 1) && octal(i + 2) &&
          octal(i + 3)) {
        mp += static_cast<char>((mount_point[i + 1] - '0') * 64 + (mount_point[i + 2] - '0') * 8 +
                                (mount_point[i + 3] - '0'));
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
                        int console_fd, int preserve_fds, ProcessPlan& out) {
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
    std::vector<std::string> skipped;
    out.cap_bounding = CapabilityMask(c.bounding, &skipped);
    out.cap_effective = CapabilityMask(c.effective, &skipped);
    out.cap_permitted = CapabilityMask(c.permitted, &skipped);
    out.cap_inheritable = CapabilityMask(c.inheritable, &skipped);
    out.cap_ambient = CapabilityMask(c.ambient, &skipped);
    std::set<std::string> warned;
    for (const std::string& name : skipped)
      if (warned.insert(name).second)
        LogWarning("capability " + name + " is not known to this kernel or libcap: skipped");
    // The kernel raises an ambient capability only if it is permitted and inheritable; runc and
    // crun skip the others with a warning (`runc spec` and `crun spec` configs have such ones).
    const uint64_t raisable = out.cap_permitted & out.cap_inheritable;
    if (uint64_t dropped = out.cap_ambient & ~raisable) {
      for (int cap = 0; cap < 64; ++cap)
        if (dropped & (1ULL << cap))
          LogWarning("ambient capability " + CapabilityName(cap) +
                     " is not both permitted and inheritable: skipped");
      out.cap_ambient &= raisable;
    }
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
  } else if (console_fd >= 0) {
    out.console_fd = console_fd;
  } else if (process.terminal) {
    return Status::InvalidArgument(
        "cannot allocate tty if runc-lite will detach without setting console socket");
  }
  for (int i = 0; i < preserve_fds; ++i) out.preserve_fds.push_back(3 + i);
  return Status::Ok();
}

Status PlanNamespaces(const Spec& spec, Arena& arena, PlanFds& fds, InitPlan& out) {
  const Namespace* mnt = spec.FindNamespace("mount");
  if (mnt == nullptr) return Status::InvalidArgument("a mount namespace is required");
  // An existing mount namespace is joined as it is: its root is the container's, nothing is
  // mounted or pivoted there (runc and crun do the same).
  out.join_mount_ns = !mnt->path.empty();
  out.has_user_ns = spec.FindNamespace("user") != nullptr;
  const Namespace* cg = spec.FindNamespace("cgroup");
  out.unshare_cgroup = cg != nullptr && cg->path.empty();
  static const std::pair<const char*, int> kJoinOrder[] = {
      {"user", CLONE_NEWUSER},   {"ipc", CLONE_NEWIPC},       {"uts", CLONE_NEWUTS},
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
  if (prop.empty()) {
    out.root_propagation = MS_SLAVE | MS_REC;
  } else if (std::optional<unsigned long> flags = PropagationFlags(prop)) {
    out.root_propagation = *flags;
  } else {
    return Status::InvalidArgument("linux.rootfsPropagation: unknown value " + prop);
  }
  return Status::Ok();
}

void PlanMaskedPaths(const Spec& spec, Arena& arena, InitPlan& out) {
  for (const std::string& p : spec.linux.masked_paths)
    out.masked_paths.push_back(arena.Str(CleanPath(p)));
  for (const std::string& p : spec.linux.readonly_paths)
    out.readonly_paths.push_back(arena.Str(CleanPath(p)));
}

Status BuildInitPlan(const Spec& spec, const CreateOptions& opts, const std::string& rootfs,
                     const CgroupLayout& layout, const ContainerState& state, Arena& arena,
                     PlanFds& fds, InitPlan& out) {
  out.rootfs = arena.Str(rootfs);
  out.no_pivot = opts.no_pivot;
  out.readonly_rootfs = spec.root_readonly;
  RETURN_IF_ERROR(PlanNamespaces(spec, arena, fds, out));
  ASSIGN_OR_RETURN(std::string parent_mount, MountPointOf(rootfs));
  out.rootfs_parent_mount = arena.Str(parent_mount);
  RETURN_IF_ERROR(PlanMounts(spec, opts.bundle, layout, state, arena, out));
  // In a new user namespace init's mapped root may not reach a bind source that the runtime can:
  // the runtime clones each source here (a detached mount, as runc does) and init attaches it.
  if (out.has_user_ns) {
    for (MountOp& m : out.mounts) {
      if (m.kind != MountKind::kBind) continue;
      unsigned flags =
          OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | ((m.flags & MS_REC) ? AT_RECURSIVE : 0);
      int fd = ::open_tree(AT_FDCWD, m.source, flags);
      if (fd < 0 && errno == ENOSYS && !m.idmap) break;  // old kernel: init opens them itself
      if (fd < 0) return Status::FromErrno(errno, std::string("cloning bind source ") + m.source);
      m.source_fd = fds.Keep(UniqueFd(fd));
    }
  }
  PlanDevices(spec, arena, out);
  PlanMaskedPaths(spec, arena, out);
  RETURN_IF_ERROR(PlanSysctls(spec, arena, out));
  for (const Hook& h : spec.hooks.start_container) {
    std::vector<std::string> args = h.args.empty() ? std::vector<std::string>{h.path} : h.args;
    out.start_hooks.push_back({arena.Str(h.path), arena.Argv(args),
                               h.env_set ? arena.Argv(h.env) : environ, h.timeout.value_or(0)});
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
                          opts.console_fd, opts.preserve_fds, out.process);
}

}  // namespace imgfs::runc
