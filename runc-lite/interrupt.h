// Turns SIGINT, SIGTERM, SIGHUP and SIGQUIT received during a long runtime operation (create)
// into an error at the next checkpoint, so that the operation's RAII cleanup (state directory,
// cgroups, the half-made init) runs instead of the process dying half-way.
//
// While a guard lives those signals are blocked and queued on a signalfd: Check() and the waits
// that take fd() (ReadSync, RunHooks) return Unavailable("interrupted by signal 15 (...)") once
// one has arrived. Processes forked meanwhile inherit the blocked mask and must restore
// original_mask() (the init does it first thing; hooks unblock everything). The destructor
// restores the mask; a signal that arrived after the last checkpoint is then delivered as usual.
// One guard at a time per process; not thread-safe (signal masks are per thread).
#pragma once

#include <signal.h>

#include "core/fd.h"
#include "core/status.h"

namespace imgfs::runc {

class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  // The signalfd, readable once a signal is pending; -1 if it could not be made.
  int fd() const { return fd_.get(); }
  const sigset_t& original_mask() const { return original_; }
  // OK, or Unavailable naming the signal that arrived (consumed; later calls report it again).
  [[nodiscard]] Status Check();

 private:
  sigset_t original_;
  UniqueFd fd_;
  int signal_ = 0;
};

// The status for signal SIG arriving during an operation ("interrupted by signal 15 (...)").
Status InterruptedBy(int sig);
// Reads one pending signal from signalfd FD (non-blocking); 0 if none.
int ReadPendingSignal(int fd);

}  // namespace imgfs::runc
