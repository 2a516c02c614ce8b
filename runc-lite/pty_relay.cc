#include "runc-lite/pty_relay.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>

namespace imgfs::runc {
namespace {

// Restores stdin's terminal mode on scope exit.
class RawStdin {
 public:
  RawStdin() {
    if (::tcgetattr(0, &saved_) != 0) return;
    termios raw = saved_;
    ::cfmakeraw(&raw);
    active_ = ::tcsetattr(0, TCSANOW, &raw) == 0;
  }
  ~RawStdin() {
    if (active_) ::tcsetattr(0, TCSANOW, &saved_);
  }
  RawStdin(const RawStdin&) = delete;
  RawStdin& operator=(const RawStdin&) = delete;

 private:
  termios saved_{};
  bool active_ = false;
};

void CopyWindowSize(int master) {
  winsize ws;
  if (::ioctl(0, TIOCGWINSZ, &ws) == 0) (void)::ioctl(master, TIOCSWINSZ, &ws);
}

// Copies what is readable on FROM to TO; false on EOF or error.
bool Pump(int from, int to) {
  char buf[16384];
  ssize_t n = RetryOnEintr([&] { return ::read(from, buf, sizeof buf); });
  if (n <= 0) return n < 0 && errno == EAGAIN;
  return WriteFull(to, std::string_view(buf, static_cast<size_t>(n))).ok();
}

}  // namespace

Result<ConsolePair> MakeConsolePair() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return Status::FromErrno(errno, "socketpair for the console");
  return ConsolePair{UniqueFd(sv[0]), UniqueFd(sv[1])};
}

UniqueFd TakeQueuedMaster(int relay_end) {
  char dummy;
  iovec iov{&dummy, 1};
  union {
    cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof u.buf;
  ssize_t n =
      RetryOnEintr([&] { return ::recvmsg(relay_end, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC); });
  if (n <= 0) return UniqueFd();
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
        c->cmsg_len == CMSG_LEN(sizeof(int))) {
      int fd;
      memcpy(&fd, CMSG_DATA(c), sizeof fd);
      return UniqueFd(fd);
    }
  }
  return UniqueFd();
}

Result<int> RelayPtyAndWait(pid_t pid, int master) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH}) sigaddset(&set, s);
  sigset_t old;
  sigprocmask(SIG_BLOCK, &set, &old);
  UniqueFd sig_fd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  UniqueFd pid_fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  const bool stdin_tty = ::isatty(0);
  RawStdin raw;  // a no-op unless stdin is a terminal
  if (stdin_tty) CopyWindowSize(master);
  bool stdin_open = true, master_open = true, exited = false;
  int status = 0;
  // Once the process is gone, what the master still holds is drained, but a leftover process
  // (no PID namespace) writing on forever does not keep this loop alive past a bound.
  constexpr int kDrainReadsAfterExit = 256;
  int drained = 0;
  while ((!exited || master_open) && drained < kDrainReadsAfterExit) {
    if (exited) ++drained;
    pollfd p[4] = {{stdin_open ? 0 : -1, POLLIN, 0},
                   {master_open ? master : -1, POLLIN, 0},
                   {sig_fd.get(), POLLIN, 0},
                   {exited ? -1 : pid_fd.get(), POLLIN, 0}};
    // Once the process is gone, only drain what the master still holds.
    int rc = ::poll(p, 4, exited ? 0 : (pid_fd.valid() ? -1 : 100));
    if (rc < 0 && errno != EINTR) return Status::FromErrno(errno, "poll");
    if (rc == 0 && exited) break;
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) master_open = Pump(master, 1);
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (!Pump(0, master)) {
        stdin_open = false;
        // End of input: the terminal's EOF character, as typing ^D would (canonical mode).
        if (!stdin_tty) (void)WriteFull(master, "\x04");
      }
    }
    if (p[2].revents & POLLIN) {
      signalfd_siginfo si;
      while (::read(sig_fd.get(), &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGWINCH)
          CopyWindowSize(master);
        else
          ::kill(pid, static_cast<int>(si.ssi_signo));
      }
    }
    if (!exited) {
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) exited = true;
      if (r < 0 && errno != EINTR) return Status::FromErrno(errno, "waitpid");
    }
  }
  sigprocmask(SIG_SETMASK, &old, nullptr);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

}  // namespace imgfs::runc
