// Container operations behind the CLI commands. Each is one call over a StateStore; the
// commands in commands.cc only parse flags. Not safe for concurrent calls on one container id
// from several processes except where runc is not either (create holds the id by mkdir).
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "runc-lite/plan_builder.h"
#include "runc-lite/spec.h"
#include "runc-lite/state_store.h"

namespace imgfs::runc {

// create: returns once init is in its cgroup, set up, and blocked on the exec FIFO. Returns the
// init's host pid (already written to opts.pid_file if set). Any failure, and SIGINT/SIGTERM/
// SIGHUP/SIGQUIT received meanwhile, removes what was made (state directory, cgroups, init).
Result<int> CreateContainer(const StateStore& store, const CreateOptions& opts);
// Loads ID's state and checks that its cgroup directories are the container's own
// (VerifyCgroupPaths): every command that signals, freezes, limits or joins goes through it.
Result<ContainerState> LoadContainer(const StateStore& store, const std::string& id);
// The absolute, symlink-free rootfs of SPEC in BUNDLE; refuses one that resolves to "/".
Result<std::string> ResolveRootfs(const Spec& spec, const std::string& bundle);
// start: releases a created container's init; runs poststart hooks.
Status StartContainer(const StateStore& store, const std::string& id);
// run: create + start; without DETACH waits for init (its parent is this process) and returns its
// exit code (128+signal), deleting the container afterwards.
Result<int> RunContainer(const StateStore& store, const CreateOptions& opts, bool detach);
// kill: signal init, or every process in the container's cgroup with ALL.
Status KillContainer(const StateStore& store, const std::string& id, int sig, bool all);
// delete: a stopped or created container; FORCE kills a running one first. FORCE on an unknown
// id succeeds.
Status DeleteContainer(const StateStore& store, const std::string& id, bool force);
// The OCI state JSON.
Result<std::string> ContainerStateJson(const StateStore& store, const std::string& id);
Status PauseContainer(const StateStore& store, const std::string& id);
Status ResumeContainer(const StateStore& store, const std::string& id);
Status UpdateContainer(const StateStore& store, const std::string& id, const Resources& r);
Result<std::vector<int>> ContainerPids(const StateStore& store, const std::string& id);
// `ps` in runc's table format: ps(1) run with PS_ARGS (default -ef), filtered to the
// container's processes.
Result<std::string> ContainerPsTable(const StateStore& store, const std::string& id,
                                     const std::vector<std::string>& ps_args);

struct ExecOptions {
  std::string id;
  std::string process_file;  // --process; else ARGS with the flags below
  std::vector<std::string> args;
  std::vector<std::string> env;   // K=V, replacing the config's K
  std::vector<std::string> caps;  // added to bounding, effective and permitted
  std::string cwd;
  std::string user;  // USER[:GROUP], names resolved in the container's /etc/passwd, /etc/group
  bool tty = false;
  bool detach = false;
  std::string pid_file;
  std::string console_socket;
  int preserve_fds = 0;
};
// exec: a new process in the container's namespaces and cgroup. Without DETACH waits and
// returns its exit code; with DETACH returns 0 once it has exec'd.
Result<int> ExecInContainer(const StateStore& store, const ExecOptions& opts);

// Parses "9", "SIGKILL", "KILL" into a signal number.
Result<int> ParseSignal(const std::string& s);

// Writes PID as decimal digits to PATH atomically (temp file + rename).
Status WritePidFile(const std::string& path, int pid);

}  // namespace imgfs::runc
