// Child-side process setup shared by init and exec (see init_plan.h). Async-signal-safe.
// Thread-safety: runs in a freshly cloned, single-threaded child only.
#pragma once

#include "runc-lite/init_plan.h"

namespace imgfs::runc {

// With a terminal: opens /dev/ptmx (of the current root), sends the master over
// PLAN.console_fd, makes the peer the controlling tty and stdio. Always starts a new session.
void SetupConsole(const ProcessPlan& plan, int sync_fd) noexcept;
// rlimits, cwd (verified inside the root), bounding set, groups/gid/uid, capabilities, ambient,
// umask, fds >= 3 (except preserved) marked close-on-exec, no_new_privs, seccomp, execve.
[[noreturn]] void FinishAndExec(const ProcessPlan& plan, int sync_fd) noexcept;

}  // namespace imgfs::runc
