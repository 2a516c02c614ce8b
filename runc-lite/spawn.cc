#include "runc-lite/spawn.h"

#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "core/fd.h"
#include "runc-lite/init_plan.h"
#include "runc-lite/interrupt.h"

namespace imgfs::runc {

Result<pid_t> Clone3(unsigned long long flags, int cgroup_fd, bool* used_cgroup_fd) {
  clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = flags;
  args.exit_signal = SIGCHLD;
  if (cgroup_fd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<uint64_t>(cgroup_fd);
  }
  long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0 && cgroup_fd >= 0 && (errno == EINVAL || errno == EOPNOTSUPP || errno == EBUSY)) {
    // Not a usable cgroup2 directory for this child: place it by cgroup.procs instead.
    args.flags &= ~static_cast<unsigned long long>(CLONE_INTO_CGROUP);
    args.cgroup = 0;
    cgroup_fd = -1;
    pid = ::syscall(SYS_clone3, &args, sizeof args);
  }
  if (pid < 0 && errno == ENOSYS) {
    cgroup_fd = -1;
    pid = ::syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, 0);
  }
  if (pid < 0) return Status::FromErrno(errno, "clone3");
  if (used_cgroup_fd) *used_cgroup_fd = cgroup_fd >= 0;
  return static_cast<pid_t>(pid);
}

Result<int> WaitForwardingSignals(pid_t pid) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH}) sigaddset(&set, s);
  sigset_t old;
  sigprocmask(SIG_BLOCK, &set, &old);
  UniqueFd sig_fd(::signalfd(-1, &set, SFD_CLOEXEC));
  UniqueFd pid_fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  int status = 0;
  for (;;) {
    pollfd p[2] = {{pid_fd.get(), POLLIN, 0}, {sig_fd.get(), POLLIN, 0}};
    int rc = ::poll(p, 2, pid_fd.valid() ? -1 : 100);
    if (rc < 0 && errno != EINTR) return Status::FromErrno(errno, "poll");
    if (rc > 0 && (p[1].revents & POLLIN)) {
      signalfd_siginfo si;
      if (::read(sig_fd.get(), &si, sizeof si) == sizeof si)
        ::kill(pid, static_cast<int>(si.ssi_signo));
    }
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return Status::FromErrno(errno, "waitpid");
  }
  sigprocmask(SIG_SETMASK, &old, nullptr);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

Result<int> ReadSync(int fd, SyncMsg* out, int interrupt_fd) {
  while (interrupt_fd >= 0) {
    pollfd p[2] = {{fd, POLLIN, 0}, {interrupt_fd, POLLIN, 0}};
    int rc = RetryOnEintr([&] { return ::poll(p, 2, -1); });
    if (rc < 0) return Status::FromErrno(errno, "poll");
    if (p[1].revents & POLLIN) {
      if (int sig = ReadPendingSignal(interrupt_fd)) return InterruptedBy(sig);
    }
    if (p[0].revents) break;
  }
  SyncMsg m;
  ssize_t n = RetryOnEintr([&] { return ::recv(fd, &m, sizeof m, 0); });
  if (n < 0) return Status::FromErrno(errno, "reading from the container process");
  if (n == 0) return 0;
  if (n != sizeof m) return Status::Internal("short message from the container process");
  if (m.type == kSyncError) {
    m.text[sizeof m.text - 1] = 0;
    return Status::FromErrno(m.err, m.text);
  }
  if (out) *out = m;
  return m.type;
}

Status WriteSync(int fd, int type, const std::string& text) {
  SyncMsg m;
  m.type = type;
  if (text.size() >= sizeof m.text) return Status::InvalidArgument("sync message too long");
  memcpy(m.text, text.data(), text.size());
  if (RetryOnEintr([&] { return ::send(fd, &m, sizeof m, MSG_NOSIGNAL); }) < 0)
    return Status::FromErrno(errno, "writing to the container process");
  return Status::Ok();
}

}  // namespace imgfs::runc
