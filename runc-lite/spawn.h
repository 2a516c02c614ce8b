// clone3() as fork() with namespace flags and, where a cgroup2 directory is given,
// CLONE_INTO_CGROUP, so the child never runs outside its cgroup. Returns 0 in the child, the
// pid in the parent. The child may only use async-signal-safe calls. Falls back to clone()
// (without the cgroup) on kernels without clone3.
// Thread-safety: call from a process that may have threads; the child is single-threaded.
#pragma once

#include <sys/types.h>

#include "core/status.h"

namespace imgfs::runc {

Result<pid_t> Clone3(unsigned long long flags, int cgroup_fd, bool* used_cgroup_fd);

// Waits for child PID, forwarding SIGINT/TERM/HUP/QUIT/USR1/USR2/WINCH received meanwhile to it.
// Returns its exit code, or 128+signal.
Result<int> WaitForwardingSignals(pid_t pid);

// Waits for a SOCK_SEQPACKET message from a child; EOF when the child exec'd or died.
// Returns the SyncMsg type, 0 on EOF; a kSyncError becomes an error Status. With INTERRUPT_FD
// (an InterruptGuard's signalfd), a signal arriving first is returned as an error instead.
struct SyncMsg;
Result<int> ReadSync(int fd, SyncMsg* out, int interrupt_fd = -1);
Status WriteSync(int fd, int type, const std::string& text = "");

}  // namespace imgfs::runc
