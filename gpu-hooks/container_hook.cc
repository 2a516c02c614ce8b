#include "gpu-hooks/container_hook.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/fd.h"
#include "gpu-hooks/driver_params.h"

namespace imgfs::gpu {
namespace {

constexpr char kConfName[] = "00-imgfs-gpu.conf";
constexpr const char* kLdconfigCandidates[] = {"/sbin/ldconfig.real", "/usr/sbin/ldconfig.real",
                                               "/sbin/ldconfig", "/usr/sbin/ldconfig"};

std::vector<std::string> Components(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// Opens PATH (container-absolute) inside the root ROOT_FD.
Result<UniqueFd> OpenInRoot(int root_fd, const std::string& path, uint64_t flags) {
  std::string rel = path;
  while (rel.starts_with("/")) rel.erase(0, 1);
  if (rel.empty()) rel = ".";
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  long fd =
      RetryOnEintr([&] { return ::syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof(how)); });
  if (fd >= 0) return UniqueFd(static_cast<int>(fd));
  if (errno != ENOSYS) return Status::FromErrno(errno, "open " + path + " in the container root");
  // No openat2: walk, refusing every symlink.
  UniqueFd cur(::fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
  std::vector<std::string> parts = Components(path);
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i] == "..") return Status::InvalidArgument("'..' in " + path);
    bool last = i + 1 == parts.size();
    int f = (last ? static_cast<int>(flags) : O_PATH | O_DIRECTORY) | O_NOFOLLOW | O_CLOEXEC;
    int next = RetryOnEintr([&] { return ::openat(cur.get(), parts[i].c_str(), f); });
    if (next < 0)
      return Status::FromErrno(errno, "open " + path + " in the container root (no symlinks)");
    cur.Reset(next);
  }
  return cur;
}

// PATH made absolute and free of "." and ".." lexically, ".." at the root staying at the root
// (what RESOLVE_IN_ROOT does).
std::string CleanInRoot(const std::string& path) {
  std::vector<std::string> out;
  for (const std::string& c : Components(path)) {
    if (c == ".") continue;
    if (c == "..") {
      if (!out.empty()) out.pop_back();
      continue;
    }
    out.push_back(c);
  }
  std::string r;
  for (const std::string& c : out) r += "/" + c;
  return r.empty() ? "/" : r;
}

// Opens directory DIR inside the root, creating missing components (0755) inside it; a
// dangling symlink on the way is followed inside the root and its target created there.
Result<UniqueFd> MkdirAllInRoot(int root_fd, const std::string& dir, int depth = 0) {
  auto fd = OpenInRoot(root_fd, dir, O_PATH | O_DIRECTORY);
  if (fd.ok() || fd.status().error_number() != ENOENT) return fd;
  if (depth > 40) return Status::InvalidArgument("too many symlinks under " + dir);
  std::vector<std::string> parts = Components(dir);
  std::string prefix;
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    std::string parent = prefix.empty() ? "/" : prefix;
    prefix += "/" + p;
    if (OpenInRoot(root_fd, prefix, O_PATH | O_DIRECTORY).ok()) continue;
    ASSIGN_OR_RETURN(UniqueFd pfd, OpenInRoot(root_fd, parent, O_PATH | O_DIRECTORY));
    if (::mkdirat(pfd.get(), p.c_str(), 0755) == 0) continue;
    if (errno != EEXIST)
      return Status::FromErrno(errno, "mkdir " + prefix + " in the container root");
    char buf[4096];
    ssize_t n = ::readlinkat(pfd.get(), p.c_str(), buf, sizeof(buf));
    if (n < 0)
      return Status::FromErrno(errno, prefix + " in the container root is not a directory");
    std::string target(buf, static_cast<size_t>(n));
    std::string rest;
    for (size_t j = i + 1; j < parts.size(); ++j) rest += "/" + parts[j];
    return MkdirAllInRoot(
        root_fd, CleanInRoot((target.starts_with("/") ? target : parent + "/" + target) + rest),
        depth + 1);
  }
  return OpenInRoot(root_fd, dir, O_PATH | O_DIRECTORY);
}

std::string Dirname(const std::string& p) {
  size_t s = p.rfind('/');
  return s == 0 || s == std::string::npos ? "/" : p.substr(0, s);
}
std::string Basename(const std::string& p) { return p.substr(p.rfind('/') + 1); }

Status CreateLink(int root_fd, const std::string& target, const std::string& link,
                  ContainerHookReport& report) {
  if (!link.starts_with("/") || Basename(link).empty() || Basename(link) == "..") {
    return Status::InvalidArgument("link path must be absolute: " + link);
  }
  ASSIGN_OR_RETURN(UniqueFd dir, MkdirAllInRoot(root_fd, Dirname(link)));
  std::string name = Basename(link);
  if (::symlinkat(target.c_str(), dir.get(), name.c_str()) == 0) {
    ++report.links_created;
    return Status::Ok();
  }
  if (errno != EEXIST) return Status::FromErrno(errno, "symlink " + link);
  char buf[4096];
  ssize_t n = ::readlinkat(dir.get(), name.c_str(), buf, sizeof(buf));
  if (n >= 0 && std::string(buf, static_cast<size_t>(n)) == target) {
    ++report.links_present;
  } else {
    report.warnings.push_back(link + " exists in the image and is left as it is");
  }
  return Status::Ok();
}

Status WriteInRoot(int root_fd, const std::string& path, const std::string& text) {
  ASSIGN_OR_RETURN(UniqueFd dir, MkdirAllInRoot(root_fd, Dirname(path)));
  std::string name = Basename(path);
  int fd = RetryOnEintr([&] {
    return ::openat(dir.get(), name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                    0644);
  });
  if (fd < 0) return Status::FromErrno(errno, "write " + path + " in the container root");
  UniqueFd f(fd);
  return WriteFull(f.get(), text);
}

bool ExistsInRoot(int root_fd, const std::string& path, bool regular) {
  auto fd = OpenInRoot(root_fd, path, O_PATH);
  if (!fd.ok()) return false;
  struct stat st;
  return ::fstat(fd->get(), &st) == 0 && (!regular || S_ISREG(st.st_mode));
}

// Mount points under ROOTFS (as paths inside it) of pseudo file systems a hostile ldconfig must
// not see, deepest first. Read in the parent: the child only calls umount2.
std::vector<std::string> PseudoMountsUnder(const std::string& rootfs) {
  std::vector<std::string> out;
  auto text = ReadFileToString("/proc/self/mountinfo", 16u << 20);
  if (!text.ok()) return out;
  std::string_view t = *text;
  auto unescape = [](std::string_view s) {
    std::string r;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\\' && i + 3 < s.size()) {
        r += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
        i += 3;
      } else {
        r += s[i];
      }
    }
    return r;
  };
  while (!t.empty()) {
    size_t nl = t.find('\n');
    std::string_view line = t.substr(0, nl);
    t = nl == std::string_view::npos ? std::string_view() : t.substr(nl + 1);
    std::vector<std::string_view> f;
    size_t i = 0;
    while (i < line.size()) {
      size_t j = line.find(' ', i);
      if (j == std::string_view::npos) j = line.size();
      f.push_back(line.substr(i, j - i));
      i = j + 1;
    }
    auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 5 || dash == f.end() || dash + 1 == f.end()) continue;
    std::string_view fstype = *(dash + 1);
    static const char* kPseudo[] = {"proc",       "sysfs",    "cgroup",  "cgroup2",
                                    "securityfs", "debugfs",  "tracefs", "bpf",
                                    "configfs",   "efivarfs", "pstore",  "fusectl"};
    if (std::none_of(std::begin(kPseudo), std::end(kPseudo),
                     [&](const char* p) { return fstype == p; })) {
      continue;
    }
    std::string mp = unescape(f[4]);
    if (mp.size() > rootfs.size() && mp.starts_with(rootfs) && mp[rootfs.size()] == '/') {
      out.push_back(mp.substr(rootfs.size()));
    }
  }
  std::sort(out.begin(), out.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

// After fork: async-signal-safe calls only. Never returns.
[[noreturn]] void LdconfigChild(const char* rootfs, const char* ldconfig,
                                const std::vector<const char*>& detach, int null_fd) noexcept {
  ::dup2(null_fd, 0);
  ::dup2(2, 1);
  bool pivoted = false;
  if (::unshare(CLONE_NEWNS) == 0 &&
      ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
      ::mount(rootfs, rootfs, nullptr, MS_BIND | MS_REC, nullptr) == 0 && ::chdir(rootfs) == 0 &&
      ::syscall(SYS_pivot_root, ".", ".") == 0 && ::umount2(".", MNT_DETACH) == 0 &&
      ::chdir("/") == 0) {
    pivoted = true;
    for (const char* p : detach) ::umount2(p, MNT_DETACH);
  }
  if (!pivoted && (::chroot(rootfs) != 0 || ::chdir("/") != 0)) ::_exit(126);
  for (int cap = 0; cap < 64; ++cap) ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capset, &hdr, data) != 0) ::_exit(126);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(126);
  ::syscall(SYS_close_range, 3, ~0U, 0);
  char* const argv[] = {const_cast<char*>("ldconfig"), nullptr};
  char* const envp[] = {const_cast<char*>("PATH=/usr/sbin:/usr/bin:/sbin:/bin"), nullptr};
  ::execve(ldconfig, argv, envp);
  ::_exit(127);
}

Status RunLdconfig(const std::string& rootfs, const std::string& ldconfig, int timeout_s) {
  std::vector<std::string> detach = PseudoMountsUnder(rootfs);
  std::vector<const char*> detach_c;
  for (const std::string& d : detach) detach_c.push_back(d.c_str());
  ASSIGN_OR_RETURN(UniqueFd null_fd, OpenFile("/dev/null", O_RDONLY));
  pid_t pid = ::fork();
  if (pid < 0) return Status::FromErrno(errno, "fork");
  if (pid == 0) LdconfigChild(rootfs.c_str(), ldconfig.c_str(), detach_c, null_fd.get());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int status = 0;
  while (true) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return Status::FromErrno(errno, "waitpid ldconfig");
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      RetryOnEintr([&] { return ::waitpid(pid, &status, 0); });
      return Status::Unavailable("ldconfig in the container timed out after " +
                                 std::to_string(timeout_s) + "s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  if (WIFEXITED(status) && WEXITSTATUS(status) == 126) {
    return Status::PermissionDenied("could not confine ldconfig (chroot/capabilities)");
  }
  return Status::IOError(ldconfig + " in the container failed: " +
                         (WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                            : "signal " + std::to_string(WTERMSIG(status))));
}

}  // namespace

Result<ContainerHookOptions> ParseContainerHookArgs(const std::vector<std::string>& args) {
  ContainerHookOptions o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> Result<std::string> {
      if (i + 1 >= args.size()) return Status::InvalidArgument(a + " needs a value");
      return args[++i];
    };
    if (a == "--link") {
      ASSIGN_OR_RETURN(std::string v, value());
      size_t sep = v.find("::");
      if (sep == std::string::npos || sep == 0 || sep + 2 >= v.size()) {
        return Status::InvalidArgument("--link wants TARGET::LINK, got " + v);
      }
      o.links.emplace_back(v.substr(0, sep), v.substr(sep + 2));
    } else if (a == "--folder") {
      ASSIGN_OR_RETURN(std::string v, value());
      if (!v.starts_with("/") || v.find('\n') != std::string::npos) {
        return Status::InvalidArgument("--folder must be an absolute path: " + v);
      }
      o.folders.push_back(v);
    } else if (a == "--rootfs") {
      ASSIGN_OR_RETURN(o.rootfs, value());
    } else if (a == "--no-ldconfig") {
      o.run_ldconfig = false;
    } else if (a == "--no-mask-driver-params") {
      o.mask_driver_params = false;
    } else if (a == "--ldconfig-timeout") {
      ASSIGN_OR_RETURN(std::string v, value());
      if (std::from_chars(v.data(), v.data() + v.size(), o.ldconfig_timeout_s).ec != std::errc() ||
          o.ldconfig_timeout_s <= 0) {
        return Status::InvalidArgument("bad --ldconfig-timeout " + v);
      }
    } else {
      return Status::InvalidArgument("unknown argument " + a);
    }
  }
  return o;
}

Result<std::string> RootfsFromState(const std::string& state_json) {
  auto state = nlohmann::json::parse(state_json, nullptr, false);
  if (state.is_discarded() || !state.is_object() || !state.contains("bundle") ||
      !state["bundle"].is_string()) {
    return Status::InvalidArgument("OCI state on stdin has no bundle");
  }
  std::string bundle = state["bundle"].get<std::string>();
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(bundle + "/config.json", 16u << 20));
  auto config = nlohmann::json::parse(text, nullptr, false);
  if (config.is_discarded() || !config.contains("root") || !config["root"].is_object() ||
      !config["root"].contains("path") || !config["root"]["path"].is_string()) {
    return Status::InvalidArgument(bundle + "/config.json has no root.path");
  }
  std::string root = config["root"]["path"].get<std::string>();
  return root.starts_with("/") ? root : bundle + "/" + root;
}

Result<ContainerHookReport> RunContainerHook(const ContainerHookOptions& o) {
  if (!o.rootfs.starts_with("/"))
    return Status::InvalidArgument("rootfs must be absolute: " + o.rootfs);
  ContainerHookReport report;
  ASSIGN_OR_RETURN(UniqueFd root, OpenFile(o.rootfs, O_PATH | O_DIRECTORY));
  for (const auto& [target, link] : o.links) {
    RETURN_IF_ERROR(CreateLink(root.get(), target, link, report));
  }
  if (!o.folders.empty()) {
    std::string text = "# Written by imgfs-gpu-hook: NVIDIA driver libraries.\n";
    for (const std::string& f : o.folders) text += f + "\n";
    RETURN_IF_ERROR(WriteInRoot(root.get(), std::string("/etc/ld.so.conf.d/") + kConfName, text));
    if (!ExistsInRoot(root.get(), "/etc/ld.so.conf", false)) {
      RETURN_IF_ERROR(
          WriteInRoot(root.get(), "/etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n"));
    }
  }
  if (o.mask_driver_params) {
    auto masked = MaskDriverParams(o.rootfs, "/run/imgfs-gpu");
    if (masked.ok())
      report.driver_params_masked = *masked;
    else
      report.warnings.push_back("driver params: " + masked.status().ToString());
  }
  if (!o.run_ldconfig) return report;
  for (const char* c : kLdconfigCandidates) {
    if (ExistsInRoot(root.get(), c, true)) {
      report.ldconfig_path = c;
      break;
    }
  }
  if (report.ldconfig_path.empty()) {
    report.warnings.push_back("no ldconfig in the image: loader cache not updated");
    return report;
  }
  Status s = RunLdconfig(o.rootfs, report.ldconfig_path, o.ldconfig_timeout_s);
  if (!s.ok()) {
    report.warnings.push_back(s.ToString());
  } else {
    report.ldconfig_ran = true;
  }
  return report;
}

}  // namespace imgfs::gpu
