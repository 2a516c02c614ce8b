// The foreground terminal of `run -t` / `exec -t` without --console-socket, as runc gives one:
// the runtime keeps one end of a socketpair as the console socket, receives the pty master the
// container's process sends over it, and copies between its own stdio and the master until the
// process exits. Single-threaded; call from the CLI's one thread.
#pragma once

#include <sys/types.h>

#include "core/fd.h"
#include "core/status.h"

namespace imgfs::runc {

// A connected AF_UNIX stream pair: `child_end` goes to the plan as its console fd, `relay_end`
// receives the master.
struct ConsolePair {
  UniqueFd relay_end, child_end;
};
Result<ConsolePair> MakeConsolePair();

// The pty master sent over RELAY_END, if one is queued (the container's process sends it during
// set-up, before it reports ready); an invalid fd when the process has no terminal.
UniqueFd TakeQueuedMaster(int relay_end);

// Copies stdin to MASTER and MASTER to stdout (stdin in raw mode while it is a terminal; its
// window size follows SIGWINCH), forwards SIGINT/TERM/HUP/QUIT/USR1/USR2 to PID, and returns
// PID's exit code (128+signal) once it has exited and the master is drained.
Result<int> RelayPtyAndWait(pid_t pid, int master);

}  // namespace imgfs::runc
