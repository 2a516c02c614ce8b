// exec: a new process inside a running container.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/fd.h"
#include "core/numbers.h"
#include "runc-lite/cgroups.h"
#include "runc-lite/container.h"
#include "runc-lite/passwd.h"
#include "runc-lite/plan_builder.h"
#include "runc-lite/pty_relay.h"
#include "runc-lite/spawn.h"

namespace imgfs::runc {
namespace {

Result<Process> ExecProcess(const ExecOptions& opts, const Spec& spec, const std::string& rootfs) {
  if (!opts.process_file.empty()) {
    ASSIGN_OR_RETURN(std::string text, ReadFileToString(opts.process_file, 16 << 20));
    Result<Process> p = ParseProcess(text);
    if (!p.ok()) return p.status().WithContext(opts.process_file);
    if (opts.tty) p->terminal = true;
    return p;
  }
  if (opts.args.empty()) return Status::InvalidArgument("exec: no command given");
  Process p = *spec.process;
  p.args = opts.args;
  p.terminal = opts.tty;
  for (const std::string& e : opts.env) {
    // K=V replaces the config's K (runc does; a second K would lose to the first).
    std::string key = e.substr(0, e.find('='));
    std::erase_if(p.env, [&](const std::string& have) {
      return have.compare(0, key.size(), key) == 0 &&
             (have.size() == key.size() || have[key.size()] == '=');
    });
    p.env.push_back(e);
  }
  if (!opts.cwd.empty()) p.cwd = opts.cwd;
  if (!opts.user.empty()) {
    ASSIGN_OR_RETURN(ResolvedUser u, ResolveContainerUser(rootfs, opts.user));
    p.user.uid = u.uid;
    p.user.gid = u.gid;
    p.user.additional_gids = u.additional_gids;
  }
  if (!opts.caps.empty()) {
    // --cap adds to the bounding, effective and permitted sets (runc's exec --cap).
    Capabilities& c = p.capabilities ? *p.capabilities : p.capabilities.emplace();
    for (const std::string& cap : opts.caps)
      for (std::vector<std::string>* set : {&c.bounding, &c.effective, &c.permitted})
        set->push_back(cap);
  }
  return p;
}

}  // namespace

Result<int> ExecInContainer(const StateStore& store, const ExecOptions& opts) {
  ASSIGN_OR_RETURN(ContainerState state, LoadContainer(store, opts.id));
  ContainerStatus st = LiveStatus(state, store);
  if (st == ContainerStatus::kPaused)
    return Status::InvalidArgument("cannot exec in a paused container");
  if (st != ContainerStatus::kRunning && st != ContainerStatus::kCreated)
    return Status::InvalidArgument("cannot exec in a stopped container");
  ASSIGN_OR_RETURN(Spec spec, ParseSpec(state.config_json));
  if (!spec.process) return Status::InvalidArgument("container has no process");
  ASSIGN_OR_RETURN(Process process, ExecProcess(opts, spec, state.rootfs));

  Arena arena;
  PlanFds fds;
  ProcessPlan plan;
  // `exec -t` in the foreground without a console socket gets a pty relayed by this process.
  ConsolePair console;
  if (process.terminal && opts.console_socket.empty() && !opts.detach) {
    ASSIGN_OR_RETURN(console, MakeConsolePair());
  }
  RETURN_IF_ERROR(BuildProcessPlan(process, spec, state.rootfs, arena, fds, opts.console_socket,
                                   console.child_end.get(), opts.preserve_fds, plan));
  // Join every namespace of init that differs from ours; user first, mount last.
  static const std::pair<const char*, int> kNs[] = {
      {"user", CLONE_NEWUSER}, {"ipc", CLONE_NEWIPC},       {"uts", CLONE_NEWUTS},
      {"net", CLONE_NEWNET},   {"cgroup", CLONE_NEWCGROUP}, {"mnt", CLONE_NEWNS}};
  std::string base = "/proc/" + std::to_string(state.pid) + "/ns/";
  auto differs = [&](const char* name) {
    struct stat a, b;
    if (::stat((base + name).c_str(), &a) != 0) return false;
    if (::stat((std::string("/proc/self/ns/") + name).c_str(), &b) != 0) return true;
    return a.st_ino != b.st_ino || a.st_dev != b.st_dev;
  };
  std::vector<NsJoin> joins;
  for (const auto& [name, type] : kNs) {
    if (!differs(name)) continue;
    ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(base + name, O_RDONLY));
    joins.push_back({fds.Keep(std::move(fd)), type});
  }
  // pid and time namespaces apply to children: join them here.
  for (const auto& [name, type] : {std::pair<const char*, int>{"pid", CLONE_NEWPID},
                                   std::pair<const char*, int>{"time", CLONE_NEWTIME}}) {
    if (!differs(name)) continue;
    ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(base + name, O_RDONLY));
    if (::setns(fd.get(), type) != 0) return Status::FromErrno(errno, std::string("setns ") + name);
  }
  // Re-check identity after opening the namespaces: init must still be the recorded process.
  Result<ProcStat> ps = ReadProcStat(state.pid);
  if (!ps.ok() || ps->start_time != state.start_time)
    return Status::NotFound("container not running");
  if (!PidInContainerCgroup(state, state.pid))
    return Status::PermissionDenied("pid " + std::to_string(state.pid) + " recorded for " +
                                    state.id + " is not in the container's cgroup");

  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return Status::FromErrno(errno, "socketpair");
  UniqueFd parent_sock(sv[0]), child_sock(sv[1]);
  UniqueFd cgroup_fd = OpenUnifiedCgroup(state);
  bool into_cgroup = false;
  ASSIGN_OR_RETURN(pid_t pid, Clone3(0, cgroup_fd.get(), &into_cgroup));
  if (pid == 0) {
    ::close(parent_sock.get());
    SyncMsg go;
    ssize_t n;
    do {
      n = ::recv(child_sock.get(), &go, sizeof go, 0);
    } while (n < 0 && errno == EINTR);
    if (n != sizeof go || go.type != kSyncGo) ::_exit(126);
    RunExecProcess(plan, joins, child_sock.get());
  }
  child_sock.Reset();
  fds.fds.clear();
  Status placed = AddPidToCgroups(state, pid, into_cgroup);
  if (!placed.ok()) {
    ::kill(pid, SIGKILL);
    RetryOnEintr([&] { return ::waitpid(pid, nullptr, 0); });
    return placed;
  }
  RETURN_IF_ERROR(WriteSync(parent_sock.get(), kSyncGo));
  Result<int> r = ReadSync(parent_sock.get(), nullptr);  // EOF = exec'd
  if (!r.ok()) {
    RetryOnEintr([&] { return ::waitpid(pid, nullptr, 0); });
    return r.status().WithContext("exec failed");
  }
  if (!opts.pid_file.empty()) RETURN_IF_ERROR(WritePidFile(opts.pid_file, pid));
  if (opts.detach) return 0;
  console.child_end.Reset();
  if (UniqueFd master = TakeQueuedMaster(console.relay_end.get()); master.valid())
    return RelayPtyAndWait(pid, master.get());
  return WaitForwardingSignals(pid);
}

}  // namespace imgfs::runc
