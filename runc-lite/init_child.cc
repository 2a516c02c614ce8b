// The container's init between clone() and execve(): namespaces, rootfs, pivot_root, the wait
// for `start`, then FinishAndExec(). Only syscalls over the prepared InitPlan.
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "runc-lite/child_util.h"
#include "runc-lite/init_plan.h"
#include "runc-lite/process_child.h"

namespace imgfs::runc {

using child::Die;
using child::FdPath;
using child::MkdirAllInRoot;
using child::OpenInRoot;

namespace {

void Send(int fd, int type) noexcept {
  SyncMsg m;
  m.type = type;
  if (::send(fd, &m, sizeof m, MSG_NOSIGNAL) < 0) Die(-1, "", errno);
}

void Expect(int fd, int type, SyncMsg* out) noexcept {
  SyncMsg m;
  ssize_t n;
  do {
    n = ::recv(fd, &m, sizeof m, 0);
  } while (n < 0 && errno == EINTR);
  if (n != sizeof m || m.type != type) ::_exit(126);  // parent gone or protocol error
  if (out) *out = m;
}

// "WHAT DEST" into BUF for error messages.
const char* Msg(char* buf, size_t cap, const char* what, const char* dest) noexcept {
  size_t len = 0;
  buf[0] = 0;
  child::AppendStr(buf, &len, cap, what);
  child::AppendStr(buf, &len, cap, " /");
  child::AppendStr(buf, &len, cap, dest);
  return buf;
}

void DoMount(const InitPlan& plan, int rootfd, const MountOp& m) noexcept {
  char err[600], target[32], src[32];
  if (MkdirAllInRoot(rootfd, m.dest, m.target_is_file) != 0)
    Die(plan.sync_fd, Msg(err, sizeof err, "creating mount point", m.dest), errno);
  int tfd = OpenInRoot(rootfd, m.dest, O_PATH);
  if (tfd < 0) Die(plan.sync_fd, Msg(err, sizeof err, "resolving mount point", m.dest), errno);
  FdPath(target, tfd);
  if (m.kind == MountKind::kProc) {
    // Only a real directory may receive procfs.
    struct stat st;
    if (::fstat(tfd, &st) != 0 || !S_ISDIR(st.st_mode))
      Die(plan.sync_fd, Msg(err, sizeof err, "proc mount point is not a directory", m.dest),
          ENOTDIR);
  }
  const char* source = m.source;
  int sfd = -1;
  if (m.kind == MountKind::kBind && m.source_fd >= 0) {
    // A clone of the source made by the runtime before init entered its user namespace. It came
    // from the host's namespace: give it the propagation the rest of the container's tree has.
    if (::move_mount(m.source_fd, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) !=
        0)
      Die(plan.sync_fd, Msg(err, sizeof err, "attaching bind source at", m.dest), errno);
    ::close(m.source_fd);
    int mfd = OpenInRoot(rootfd, m.dest, O_PATH);
    char mt[32];
    if (mfd < 0 ||
        ::mount(nullptr, FdPath(mt, mfd), nullptr, plan.root_propagation | MS_REC, nullptr) != 0)
      Die(plan.sync_fd, Msg(err, sizeof err, "setting propagation of", m.dest), errno);
    if (m.remount &&
        ::mount(nullptr, mt, nullptr, MS_BIND | MS_REMOUNT | (m.flags & ~MS_REC), nullptr) != 0)
      Die(plan.sync_fd, Msg(err, sizeof err, "remount", m.dest), errno);
    ::close(mfd);
  } else if (m.kind == MountKind::kBind) {
    sfd = ::open(m.source, O_PATH | O_CLOEXEC);
    if (sfd < 0) Die(plan.sync_fd, Msg(err, sizeof err, "opening bind source for", m.dest), errno);
    source = FdPath(src, sfd);
    unsigned long f = MS_BIND | (m.flags & MS_REC);
    if (::mount(source, target, nullptr, f, nullptr) != 0)
      Die(plan.sync_fd, Msg(err, sizeof err, "bind mount", m.dest), errno);
    if (m.remount) {
      int mfd = OpenInRoot(rootfd, m.dest, O_PATH);
      if (mfd < 0) Die(plan.sync_fd, Msg(err, sizeof err, "reopening", m.dest), errno);
      char mt[32];
      if (::mount(nullptr, FdPath(mt, mfd), nullptr, MS_BIND | MS_REMOUNT | (m.flags & ~MS_REC),
                  nullptr) != 0)
        Die(plan.sync_fd, Msg(err, sizeof err, "remount", m.dest), errno);
      ::close(mfd);
    }
    ::close(sfd);
  } else {
    if (::mount(source, target, m.fstype, m.flags, m.data) != 0)
      Die(plan.sync_fd, Msg(err, sizeof err, "mount", m.dest), errno);
  }
  if (m.propagation) {
    int mfd = OpenInRoot(rootfd, m.dest, O_PATH);
    char mt[32];
    if (mfd < 0 || ::mount(nullptr, FdPath(mt, mfd), nullptr, m.propagation, nullptr) != 0)
      Die(plan.sync_fd, Msg(err, sizeof err, "setting propagation of", m.dest), errno);
    ::close(mfd);
  }
  ::close(tfd);
}

void MakeDevice(const InitPlan& plan, int rootfd, const DeviceOp& d) noexcept {
  char err[600], path[32], src[32];
  if (MkdirAllInRoot(rootfd, d.dir, false) != 0)
    Die(plan.sync_fd, Msg(err, sizeof err, "creating", d.dir), errno);
  int dirfd = OpenInRoot(rootfd, d.dir, O_PATH | O_DIRECTORY);
  if (dirfd < 0) Die(plan.sync_fd, Msg(err, sizeof err, "opening", d.dir), errno);
  if (::mknodat(dirfd, d.name, d.mode, d.dev) == 0) {
    (void)::fchownat(dirfd, d.name, d.uid, d.gid, AT_SYMLINK_NOFOLLOW);
    (void)::fchmodat(dirfd, d.name, d.mode & 07777, 0);
  } else if (errno == EEXIST) {
    // Already there (an image's own /dev): leave it.
  } else if (errno == EROFS && d.best_effort) {
    // A read-only image without this node: it keeps its own /dev.
  } else {
    // No mknod (user namespace): bind the host's node onto an empty file.
    int f = ::openat(dirfd, d.name, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (f >= 0) ::close(f);
    int t = ::openat(dirfd, d.name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    int s = ::open(d.host_path, O_PATH | O_CLOEXEC);
    if (t < 0 || s < 0 ||
        ::mount(FdPath(src, s), FdPath(path, t), nullptr, MS_BIND, nullptr) != 0) {
      // A default node in an image's own /dev that takes neither (a filesystem refusing both):
      // the image keeps what it has, as it did before runc-lite made them there.
      if (!d.best_effort) Die(plan.sync_fd, Msg(err, sizeof err, "creating device", d.name), errno);
    }
    if (t >= 0) ::close(t);
    if (s >= 0) ::close(s);
  }
  ::close(dirfd);
}

void DevSymlinks(int rootfd) noexcept {
  (void)MkdirAllInRoot(rootfd, "dev/pts", false);
  (void)MkdirAllInRoot(rootfd, "dev/shm", false);
  int dev = OpenInRoot(rootfd, "dev", O_PATH | O_DIRECTORY);
  if (dev < 0) return;
  static const char* const kLinks[][2] = {{"/proc/self/fd", "fd"},
                                          {"/proc/self/fd/0", "stdin"},
                                          {"/proc/self/fd/1", "stdout"},
                                          {"/proc/self/fd/2", "stderr"},
                                          {"pts/ptmx", "ptmx"}};
  for (const auto& l : kLinks) {
    if (strcmp(l[1], "ptmx") == 0) (void)::unlinkat(dev, "ptmx", 0);
    (void)::symlinkat(l[0], dev, l[1]);
  }
  ::close(dev);
}

// Runs createRuntime/createContainer hooks via the parent while the old root is still reachable.
void WaitForHooks(const InitPlan& plan) noexcept {
  if (!plan.wait_hooks) return;
  Send(plan.sync_fd, kSyncHooks);
  Expect(plan.sync_fd, kSyncHooksDone, nullptr);
}

void PivotRoot(const InitPlan& plan, int rootfd) noexcept {
  if (::fchdir(rootfd) != 0) Die(plan.sync_fd, "chdir to rootfs", errno);
  if (plan.no_pivot) {
    if (::mount(".", "/", nullptr, MS_MOVE, nullptr) != 0)
      Die(plan.sync_fd, "move rootfs to /", errno);
    if (::chroot(".") != 0) Die(plan.sync_fd, "chroot", errno);
  } else {
    if (::syscall(SYS_pivot_root, ".", ".") != 0) Die(plan.sync_fd, "pivot_root", errno);
    // The old root is stacked under ".": keep its unmount from propagating to the host.
    if (::mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) != 0)
      Die(plan.sync_fd, "making the old root a slave", errno);
    if (::umount2(".", MNT_DETACH) != 0) Die(plan.sync_fd, "unmounting the old root", errno);
  }
  if (::chdir("/") != 0) Die(plan.sync_fd, "chdir /", errno);
}

// /proc of the container, checked to be procfs before anything is written through it.
int OpenVerifiedProc() noexcept {
  int fd = ::open("/proc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -1;
  struct statfs sfs;
  if (::fstatfs(fd, &sfs) != 0 || sfs.f_type != PROC_SUPER_MAGIC) {
    ::close(fd);
    errno = EXDEV;
    return -1;
  }
  return fd;
}

void WriteSysctls(const InitPlan& plan) noexcept {
  if (plan.sysctls.empty()) return;
  int proc = OpenVerifiedProc();
  if (proc < 0) Die(plan.sync_fd, "sysctl: /proc is not procfs", errno);
  char err[600];
  for (const SysctlOp& s : plan.sysctls) {
    int fd = OpenInRoot(proc, s.rel, O_WRONLY);
    if (fd < 0 || child::WriteAll(fd, s.value, child::StrLen(s.value)) != 0)
      Die(plan.sync_fd, Msg(err, sizeof err, "writing sysctl proc", s.rel), errno);
    ::close(fd);
  }
  ::close(proc);
}

void MaskPaths(const InitPlan& plan) noexcept {
  char err[600], t[32], s[32];
  int root = ::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  // The container's /dev/null, checked to be the null device before it is bound over anything.
  int null_fd = -1;
  if (!plan.masked_paths.empty()) {
    null_fd = OpenInRoot(root, "dev/null", O_PATH | O_NOFOLLOW);
    struct stat st;
    if (null_fd < 0 || ::fstat(null_fd, &st) != 0 || !S_ISCHR(st.st_mode) ||
        st.st_rdev != makedev(1, 3))
      Die(plan.sync_fd, "/dev/null in the container is not the null device", EPERM);
  }
  for (const char* path : plan.masked_paths) {
    int fd = OpenInRoot(root, path, O_PATH | O_NOFOLLOW);
    if (fd < 0) continue;  // nothing to hide
    struct stat st;
    if (::fstat(fd, &st) != 0) Die(plan.sync_fd, Msg(err, sizeof err, "stat", path + 1), errno);
    int rc;
    if (S_ISDIR(st.st_mode)) {
      rc = ::mount("tmpfs", FdPath(t, fd), "tmpfs", MS_RDONLY, "size=0k");
    } else {
      rc = ::mount(FdPath(s, null_fd), FdPath(t, fd), nullptr, MS_BIND, nullptr);
    }
    if (rc != 0) Die(plan.sync_fd, Msg(err, sizeof err, "masking", path + 1), errno);
    ::close(fd);
  }
  for (const char* path : plan.readonly_paths) {
    int fd = OpenInRoot(root, path, O_PATH | O_NOFOLLOW);
    if (fd < 0) continue;
    FdPath(t, fd);
    if (::mount(t, t, nullptr, MS_BIND | MS_REC, nullptr) != 0)
      Die(plan.sync_fd, Msg(err, sizeof err, "bind for readonly", path + 1), errno);
    ::close(fd);
    fd = OpenInRoot(root, path, O_PATH | O_NOFOLLOW);
    if (fd < 0 || ::mount(nullptr, FdPath(t, fd), nullptr,
                          MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                          nullptr) != 0) {
      // Some filesystems lock nosuid/noexec: retry with read-only alone.
      if (fd < 0 || ::mount(nullptr, t, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0)
        Die(plan.sync_fd, Msg(err, sizeof err, "remount readonly", path + 1), errno);
    }
    ::close(fd);
  }
  if (null_fd >= 0) ::close(null_fd);
  ::close(root);
}

// Blocks until `runc-lite start` opens the exec FIFO for reading; then tells it we are going and
// keeps the FIFO open until execve.
void WaitForStart(const InitPlan& plan) noexcept {
  // Through the container's /proc, checked to be procfs (an image cannot fake the magic link).
  int proc = OpenVerifiedProc();
  if (proc < 0) Die(plan.sync_fd, "the exec fifo needs procfs mounted at /proc", errno);
  char path[40];
  size_t len = 0;
  path[0] = 0;
  child::AppendStr(path, &len, sizeof path, "self/fd/");
  child::AppendNum(path, &len, sizeof path, plan.fifo_fd);
  int fd;
  do {
    fd = ::openat(proc, path, O_WRONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  ::close(proc);
  if (fd < 0) Die(plan.sync_fd, "opening the exec fifo", errno);
  (void)child::WriteAll(fd, "0", 1);
  // FD stays open, close-on-exec: `start` reads until EOF, which comes when the program's
  // execve() (or init's death) closes it, so `start` returns only once the program runs.
  ::close(plan.fifo_fd);
}

void RunStartHooks(const InitPlan& plan, const char* state_json) noexcept {
  for (const HookOp& h : plan.start_hooks) {
    int pfd[2];
    if (::pipe2(pfd, O_CLOEXEC) != 0) Die(-1, "pipe for a startContainer hook", errno);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::dup3(pfd[0], 0, 0);
      ::execve(h.path, h.argv, h.envp);
      ::_exit(127);
    }
    ::close(pfd[0]);
    (void)child::WriteAll(pfd[1], state_json, child::StrLen(state_json));
    ::close(pfd[1]);
    int status = 0;
    bool done = false;
    if (h.timeout_s > 0) {
      // Poll so an overrunning hook can be killed; nanosleep is async-signal-safe.
      for (long waited_ms = 0; waited_ms < h.timeout_s * 1000L; waited_ms += 10) {
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) {
          done = true;
          break;
        }
        timespec ts{0, 10 * 1000 * 1000};
        ::nanosleep(&ts, nullptr);
      }
      if (!done) ::kill(pid, SIGKILL);
    }
    if (!done) {
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
    if (!done && h.timeout_s > 0) Die(-1, "startContainer hook timed out", ETIMEDOUT);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      Die(-1, "startContainer hook failed", WIFEXITED(status) ? WEXITSTATUS(status) : EINTR);
  }
}

// The rootfs in a new mount namespace: mounts, devices, hooks, pivot_root, sysctls, masks.
void SetUpRootfs(const InitPlan& plan) noexcept {
  const int sync = plan.sync_fd;
  if (::mount(nullptr, "/", nullptr, plan.root_propagation, nullptr) != 0)
    Die(sync, "setting / propagation", errno);
  // pivot_root refuses a new root whose parent mount is shared (rootfsPropagation "shared").
  if (::mount(nullptr, plan.rootfs_parent_mount, nullptr, MS_PRIVATE, nullptr) != 0)
    Die(sync, "making the rootfs parent mount private", errno);
  if (::mount(plan.rootfs, plan.rootfs, nullptr, MS_BIND | MS_REC, nullptr) != 0)
    Die(sync, "bind mount of the rootfs onto itself", errno);
  int rootfd = ::open(plan.rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) Die(sync, "open rootfs", errno);
  for (const char* d : plan.mkdirs) (void)MkdirAllInRoot(rootfd, d, false);
  for (const MountOp& m : plan.mounts) DoMount(plan, rootfd, m);
  (void)MkdirAllInRoot(rootfd, plan.process.cwd, false);  // runc creates a missing cwd too
  if (plan.make_devices) {
    for (const DeviceOp& d : plan.devices) MakeDevice(plan, rootfd, d);
    DevSymlinks(rootfd);
  }
  WaitForHooks(plan);
  PivotRoot(plan, rootfd);
  ::close(rootfd);
  WriteSysctls(plan);
  MaskPaths(plan);
  if (plan.readonly_rootfs &&
      ::mount(nullptr, "/", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0)
    Die(sync, "remounting the rootfs read-only", errno);
}

}  // namespace

void RunContainerInit(const InitPlan& plan) noexcept {
  const int sync = plan.sync_fd;
  static SyncMsg state_msg;
  if (plan.restore_signal_mask) (void)::sigprocmask(SIG_SETMASK, &plan.signal_mask, nullptr);
  // Until execve, init is an image of the runtime: keep other processes (an `exec` into a created
  // container included) from opening /proc/<init>/exe or its memory.
  (void)::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  // Die with the runtime until setup is reported; a runtime that died before this line shows as
  // EOF on the sync socket below.
  (void)::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  Expect(sync, kSyncGo, nullptr);
  if (!plan.start_hooks.empty()) Expect(sync, kSyncStateJson, &state_msg);
  for (const NsJoin& j : plan.joins) {
    if (::setns(j.fd, j.nstype) != 0) Die(sync, "joining a namespace by path", errno);
    ::close(j.fd);
  }
  if (plan.has_user_ns) {
    if (::syscall(SYS_setresgid, 0, 0, 0) != 0 || ::syscall(SYS_setresuid, 0, 0, 0) != 0)
      Die(sync, "becoming root in the user namespace", errno);
    (void)::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);  // the credential change cleared it
  }
  if (plan.unshare_cgroup && ::unshare(CLONE_NEWCGROUP) != 0) Die(sync, "unshare cgroup ns", errno);
  if (plan.hostname && ::sethostname(plan.hostname, child::StrLen(plan.hostname)) != 0)
    Die(sync, "sethostname", errno);
  if (plan.domainname && ::setdomainname(plan.domainname, child::StrLen(plan.domainname)) != 0)
    Die(sync, "setdomainname", errno);

  if (plan.join_mount_ns) {
    // A mount namespace given by path is used as it is: its root is the container's.
    WaitForHooks(plan);
    if (::chdir("/") != 0) Die(sync, "chdir /", errno);
    WriteSysctls(plan);
  } else {
    SetUpRootfs(plan);
  }
  SetupConsole(plan.process, sync);
  // From here init outlives `create`.
  (void)::prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
  Send(sync, kSyncReady);
  WaitForStart(plan);
  ::close(sync);
  RunStartHooks(plan, state_msg.text);
  FinishAndExec(plan.process, -1);
}

}  // namespace imgfs::runc
