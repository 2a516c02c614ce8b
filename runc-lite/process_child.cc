// The last steps before execve, shared by a container's init and its exec processes: console,
// rlimits, user, capabilities, cwd check, fds, no_new_privs, seccomp (last), execve.
// Only syscalls over the prepared ProcessPlan (async-signal-safe).
#include "runc-lite/process_child.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "runc-lite/child_util.h"
#include "runc-lite/init_plan.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace imgfs::runc {

using child::Die;

namespace {

void SendFd(int sock, int fd, int sync_fd) noexcept {
  char dummy = 'x';
  iovec iov{&dummy, 1};
  union {
    cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  memset(&u, 0, sizeof u);
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof u.buf;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  ssize_t n;
  do {
    n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) Die(sync_fd, "sending the pty master over the console socket", errno);
}

int CapSet(uint64_t eff, uint64_t perm, uint64_t inh) noexcept {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2];
  data[0].effective = static_cast<uint32_t>(eff);
  data[1].effective = static_cast<uint32_t>(eff >> 32);
  data[0].permitted = static_cast<uint32_t>(perm);
  data[1].permitted = static_cast<uint32_t>(perm >> 32);
  data[0].inheritable = static_cast<uint32_t>(inh);
  data[1].inheritable = static_cast<uint32_t>(inh >> 32);
  return static_cast<int>(::syscall(SYS_capset, &hdr, data));
}

void InstallSeccomp(const ProcessPlan& p, int sync_fd) noexcept {
  if (p.seccomp.empty()) return;
  sock_fprog prog{static_cast<unsigned short>(p.seccomp.size()),
                  const_cast<sock_filter*>(p.seccomp.data())};
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, p.seccomp_flags, &prog) != 0)
    Die(sync_fd, "installing the seccomp filter", errno);
}

}  // namespace

void SetupConsole(const ProcessPlan& p, int sync_fd) noexcept {
  if (!p.terminal) {
    ::setsid();
    return;
  }
  if (p.console_fd < 0) Die(sync_fd, "terminal requested but no --console-socket given", EINVAL);
  int master = ::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) Die(sync_fd, "open /dev/ptmx in the container", errno);
  int unlock = 0;
  if (::ioctl(master, TIOCSPTLCK, &unlock) != 0) Die(sync_fd, "unlockpt", errno);
  int slave = ::ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) Die(sync_fd, "open the pty peer", errno);
  if (p.rows || p.cols) {
    winsize ws{p.rows, p.cols, 0, 0};
    (void)::ioctl(slave, TIOCSWINSZ, &ws);
  }
  SendFd(p.console_fd, master, sync_fd);
  ::close(master);
  ::close(p.console_fd);
  ::setsid();
  if (::ioctl(slave, TIOCSCTTY, 0) != 0) Die(sync_fd, "TIOCSCTTY", errno);
  for (int i = 0; i < 3; ++i)
    if (::dup3(slave, i, 0) < 0) Die(sync_fd, "dup3 pty to stdio", errno);
  ::close(slave);
}

[[noreturn]] void FinishAndExec(const ProcessPlan& p, int sync_fd) noexcept {
  for (const auto& rl : p.rlimits) {
    rlimit64 lim{rl.soft, rl.hard};
    if (::syscall(SYS_prlimit64, 0, rl.resource, &lim, nullptr) != 0) {
      // Without CAP_SYS_RESOURCE the hard limit cannot be raised: clamp to the current one.
      rlimit64 cur;
      if (errno != EPERM || ::syscall(SYS_prlimit64, 0, rl.resource, nullptr, &cur) != 0)
        Die(sync_fd, "setrlimit", errno);
      lim.rlim_max = rl.hard < cur.rlim_max ? rl.hard : cur.rlim_max;
      lim.rlim_cur = rl.soft < lim.rlim_max ? rl.soft : lim.rlim_max;
      if (::syscall(SYS_prlimit64, 0, rl.resource, &lim, nullptr) != 0)
        Die(sync_fd, "setrlimit", errno);
    }
  }
  // The working directory is resolved inside the container and must be reachable from its root
  // (a leaked host fd as cwd shows up as "(unreachable)/..."; CVE-2024-21626).
  if (::chdir(p.cwd) != 0) Die(sync_fd, "chdir to cwd", errno);
  char cwd[4096];
  long n = ::syscall(SYS_getcwd, cwd, sizeof cwd);
  if (n < 0 || cwd[0] != '/') Die(sync_fd, "cwd is outside the container root", EPERM);

  if (p.set_caps) {
    for (int cap = 0; cap < 64; ++cap) {
      if (p.cap_bounding & (1ULL << cap)) continue;
      if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
        if (errno == EINVAL) break;  // past the kernel's last capability
        Die(sync_fd, "dropping a bounding capability", errno);
      }
    }
  }
  // Install the filter before dropping privileges only when the kernel would refuse it afterwards
  // (no no_new_privs and no CAP_SYS_ADMIN kept); otherwise it is the very last step.
  const bool seccomp_early =
      !p.no_new_privs && p.set_caps && !(p.cap_effective & (1ULL << CAP_SYS_ADMIN));
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) Die(sync_fd, "PR_SET_KEEPCAPS", errno);
  if (::syscall(SYS_setgroups, p.groups.size(), p.groups.data()) != 0)
    Die(sync_fd, "setgroups", errno);
  if (seccomp_early) InstallSeccomp(p, sync_fd);
  if (::syscall(SYS_setresgid, p.gid, p.gid, p.gid) != 0) Die(sync_fd, "setresgid", errno);
  if (::syscall(SYS_setresuid, p.uid, p.uid, p.uid) != 0) Die(sync_fd, "setresuid", errno);
  (void)::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  if (p.set_caps) {
    if (CapSet(p.cap_effective, p.cap_permitted, p.cap_inheritable) != 0)
      Die(sync_fd, "capset", errno);
    (void)::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    for (int cap = 0; cap < 64; ++cap) {
      if (!(p.cap_ambient & (1ULL << cap))) continue;
      if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0)
        Die(sync_fd, "raising an ambient capability", errno);
    }
  } else if (p.uid != 0) {
    (void)CapSet(0, 0, 0);
  }
  if (p.umask >= 0) ::umask(static_cast<mode_t>(p.umask));
  // Nothing but stdio and the preserved fds survives execve.
  int first = 3 + static_cast<int>(p.preserve_fds.size());
  if (::syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = first; fd < 65536; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  for (int i = 0; i < static_cast<int>(p.preserve_fds.size()); ++i) ::fcntl(3 + i, F_SETFD, 0);
  if (p.no_new_privs && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    Die(sync_fd, "PR_SET_NO_NEW_PRIVS", errno);
  if (!seccomp_early) InstallSeccomp(p, sync_fd);
  int err = ENOENT;
  for (const char* path : p.exec_candidates) {
    ::execve(path, p.argv, p.envp);
    if (errno != ENOENT && errno != ENOTDIR) err = errno;
    if (errno == EACCES || errno == ENOEXEC || errno == EPERM) break;
  }
  char msg[512];
  size_t len = 0;
  msg[0] = 0;
  child::AppendStr(msg, &len, sizeof msg, "exec ");
  child::AppendStr(msg, &len, sizeof msg, p.argv[0]);
  Die(sync_fd, msg, err);
}

void RunExecProcess(const ProcessPlan& plan, const std::vector<NsJoin>& joins,
                    int sync_fd) noexcept {
  (void)::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);  // execve() restores it
  for (const NsJoin& j : joins) {
    if (::setns(j.fd, j.nstype) != 0) Die(sync_fd, "setns into the container", errno);
  }
  SetupConsole(plan, sync_fd);
  FinishAndExec(plan, sync_fd);
}

}  // namespace imgfs::runc
