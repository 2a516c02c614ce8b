// OCI hooks run by the runtime process: each with exactly its own env, the state JSON on stdin,
// and its timeout (SIGKILL when exceeded). Hooks that must run in the container's namespaces
// (createContainer) are run by a forked helper that setns()es into INIT_PID's namespaces first.
// startContainer hooks run inside init (init_child.cc). Thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "runc-lite/spec.h"

namespace imgfs::runc {

// Runs HOOKS in order; the first failure stops and is returned with the hook's path.
// NS_PID > 0: join that process's mount, network, ipc and uts namespaces first.
// INTERRUPT_FD (an InterruptGuard's signalfd): a signal arriving while a hook runs kills the hook
// and returns the interruption as the error.
Status RunHooks(const std::vector<Hook>& hooks, const std::string& state_json, int ns_pid = 0,
                int interrupt_fd = -1);

}  // namespace imgfs::runc
