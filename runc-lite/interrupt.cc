#include "runc-lite/interrupt.h"

#include <poll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstring>
#include <string>

namespace imgfs::runc {
namespace {

sigset_t Interrupts() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set, s);
  return set;
}

}  // namespace

Status InterruptedBy(int sig) {
  return Status::Unavailable("interrupted by signal " + std::to_string(sig) + " (" +
                             ::strsignal(sig) + ")");
}

int ReadPendingSignal(int fd) {
  if (fd < 0) return 0;
  signalfd_siginfo si;
  ssize_t n = RetryOnEintr([&] { return ::read(fd, &si, sizeof si); });
  return n == sizeof si ? static_cast<int>(si.ssi_signo) : 0;
}

InterruptGuard::InterruptGuard() {
  sigset_t set = Interrupts();
  ::sigprocmask(SIG_BLOCK, &set, &original_);
  fd_.Reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
}

InterruptGuard::~InterruptGuard() {
  fd_.Reset();
  ::sigprocmask(SIG_SETMASK, &original_, nullptr);
}

Status InterruptGuard::Check() {
  if (signal_ == 0) signal_ = ReadPendingSignal(fd_.get());
  return signal_ == 0 ? Status::Ok() : InterruptedBy(signal_);
}

}  // namespace imgfs::runc
