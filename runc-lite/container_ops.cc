// kill, delete, state, pause, resume, update, ps.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <sstream>

#include "core/fd.h"
#include "core/numbers.h"
#include "runc-lite/cgroups.h"
#include "runc-lite/container.h"
#include "runc-lite/hooks.h"
#include "runc-lite/runtime_log.h"

namespace imgfs::runc {
namespace {

// How long `kill -9` waits for init to be gone, and `delete` for a running init to exit.
constexpr int kKillWaitMs = 5000;
constexpr int kDeleteGraceMs = 500;

// Signals init only if it is still the process recorded in STATE: same start time, and in the
// container's cgroup (a state.json naming another process's pid and start time is not enough).
// The pidfd pins the process between the checks and the signal (no PID-reuse race).
Status SignalInit(const ContainerState& state, int sig) {
  if (state.pid <= 0) return Status::NotFound("container not running");  // never kill(0, ...)
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, state.pid, 0));
  if (pidfd < 0 && errno == ESRCH) return Status::NotFound("container not running");
  UniqueFd fd(pidfd);
  Result<ProcStat> ps = ReadProcStat(state.pid);
  if (!ps.ok() || ps->start_time != state.start_time)
    return Status::NotFound("container not running");
  if (!PidInContainerCgroup(state, state.pid))
    return Status::PermissionDenied("pid " + std::to_string(state.pid) + " recorded for " +
                                    state.id +
                                    " is not in the container's cgroup: not signalling it");
  if (pidfd < 0) {  // kernels before 5.3
    if (::kill(state.pid, sig) != 0) return Status::FromErrno(errno, "kill");
    return Status::Ok();
  }
  if (::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) != 0) {
    if (errno == ESRCH) return Status::NotFound("container not running");
    return Status::FromErrno(errno, "pidfd_send_signal");
  }
  return Status::Ok();
}

// Waits up to TIMEOUT_MS for the recorded init to exit (a zombie counts: it has exited).
void WaitInitExit(const ContainerState& state, int timeout_ms) {
  if (state.pid <= 0) return;
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, state.pid, 0)));
  if (!pidfd.valid()) return;  // gone already (ESRCH), or a kernel without pidfds
  Result<ProcStat> ps = ReadProcStat(state.pid);
  if (!ps.ok() || ps->start_time != state.start_time) return;  // another process now
  pollfd p{pidfd.get(), POLLIN, 0};
  (void)RetryOnEintr([&] { return ::poll(&p, 1, timeout_ms); });
}

Status SignalAll(const ContainerState& state, int sig) {
  ASSIGN_OR_RETURN(std::vector<int> pids, CgroupPids(state));
  for (int pid : pids) {
    if (::kill(pid, sig) != 0 && errno != ESRCH) return Status::FromErrno(errno, "kill");
  }
  return Status::Ok();
}

// Waits (bounded) until no process is left in the container's cgroup and init is gone.
void WaitEmpty(const ContainerState& state, const StateStore& store) {
  for (int i = 0; i < 1000; ++i) {
    Result<std::vector<int>> pids = CgroupPids(state);
    bool init_gone = LiveStatus(state, store) == ContainerStatus::kStopped;
    if (init_gone && (!pids.ok() || pids->empty())) return;
    ::usleep(2000);
  }
}

Status Destroy(const StateStore& store, const ContainerState& state) {
  (void)FreezeCgroup(state, false);
  Status cg = DestroyCgroups(state);
  Result<Spec> spec = ParseSpec(state.config_json);
  if (spec.ok() && !spec->hooks.poststop.empty()) {
    Status hs = RunHooks(spec->hooks.poststop, OciStateJson(state, ContainerStatus::kStopped));
    if (!hs.ok()) LogWarning("poststop hook: " + hs.ToString());
  }
  RETURN_IF_ERROR(store.Remove(state.id));
  return cg;
}

}  // namespace

Result<ContainerState> LoadContainer(const StateStore& store, const std::string& id) {
  ASSIGN_OR_RETURN(ContainerState state, store.Load(id));
  RETURN_IF_ERROR(VerifyCgroupPaths(state));
  return state;
}

Result<int> ParseSignal(const std::string& s) {
  if (s.empty()) return Status::InvalidArgument("empty signal");
  if (isdigit(static_cast<unsigned char>(s[0]))) {
    Result<uint64_t> v = ParseUint64(s, 1, 64, "signal");
    if (!v.ok()) return Status::InvalidArgument("invalid signal: " + s);
    return static_cast<int>(*v);
  }
  std::string name = s;
  for (char& c : name) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  if (name.rfind("SIG", 0) == 0) name = name.substr(3);
  static const std::map<std::string, int> kSignals = {
      {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},     {"ILL", SIGILL},
      {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"IOT", SIGIOT},       {"BUS", SIGBUS},
      {"FPE", SIGFPE},       {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV},
      {"USR2", SIGUSR2},     {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM},
      {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP},
      {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},
      {"XCPU", SIGXCPU},     {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
      {"WINCH", SIGWINCH},   {"IO", SIGIO},     {"PWR", SIGPWR},       {"SYS", SIGSYS}};
  auto it = kSignals.find(name);
  if (it == kSignals.end()) return Status::InvalidArgument("unknown signal \"" + s + "\"");
  return it->second;
}

Status KillContainer(const StateStore& store, const std::string& id, int sig, bool all) {
  ASSIGN_OR_RETURN(ContainerState state, LoadContainer(store, id));
  ContainerStatus st = LiveStatus(state, store);
  if (all) {
    Result<std::vector<int>> left = CgroupPids(state);
    if (st == ContainerStatus::kStopped && (!left.ok() || left->empty()))
      return Status::NotFound("container not running");
    RETURN_IF_ERROR(SignalAll(state, sig));
    if (st == ContainerStatus::kPaused && (sig == SIGKILL || sig == SIGTERM))
      (void)FreezeCgroup(state, false);
    return Status::Ok();
  }
  if (st == ContainerStatus::kStopped) return Status::NotFound("container not running");
  RETURN_IF_ERROR(SignalInit(state, sig));
  if (st == ContainerStatus::kPaused && (sig == SIGKILL || sig == SIGTERM))
    (void)FreezeCgroup(state, false);
  // SIGKILL always ends init: return once it has, so a `delete` right after sees it stopped.
  if (sig == SIGKILL) WaitInitExit(state, kKillWaitMs);
  return Status::Ok();
}

Status DeleteContainer(const StateStore& store, const std::string& id, bool force) {
  Result<ContainerState> loaded = store.Load(id);
  if (!loaded.ok()) {
    if (force && loaded.status().code() == Code::kNotFound) return Status::Ok();
    return loaded.status();
  }
  RETURN_IF_ERROR(VerifyCgroupPaths(*loaded));
  ContainerState& state = *loaded;
  ContainerStatus st = LiveStatus(state, store);
  if (!force && st == ContainerStatus::kRunning) {
    // A `kill` just before may have sent a signal that init dies of (its handler exits, or the
    // default action): give it a moment to go before calling it running, as runc does.
    WaitInitExit(state, kDeleteGraceMs);
    st = LiveStatus(state, store);
  }
  if (st == ContainerStatus::kRunning || st == ContainerStatus::kPaused) {
    if (!force)
      return Status::InvalidArgument("cannot delete container " + id +
                                     " that is not stopped: " + StatusName(st));
  }
  if (st != ContainerStatus::kStopped) {
    (void)SignalAll(state, SIGKILL);
    (void)SignalInit(state, SIGKILL);
    (void)FreezeCgroup(state, false);
    WaitEmpty(state, store);
  } else {
    // Orphans of an exited init (no pid namespace): kill what is left in the cgroup.
    Result<std::vector<int>> pids = CgroupPids(state);
    if (pids.ok() && !pids->empty()) {
      (void)SignalAll(state, SIGKILL);
      (void)FreezeCgroup(state, false);
      WaitEmpty(state, store);
    }
  }
  return Destroy(store, state);
}

Result<std::string> ContainerStateJson(const StateStore& store, const std::string& id) {
  ASSIGN_OR_RETURN(ContainerState state, store.Load(id));
  return OciStateJson(state, LiveStatus(state, store));
}

Status PauseContainer(const StateStore& store, const std::string& id) {
  ASSIGN_OR_RETURN(ContainerState state, LoadContainer(store, id));
  ContainerStatus st = LiveStatus(state, store);
  if (st != ContainerStatus::kRunning && st != ContainerStatus::kCreated)
    return Status::InvalidArgument("container not running");
  return FreezeCgroup(state, true);
}

Status ResumeContainer(const StateStore& store, const std::string& id) {
  ASSIGN_OR_RETURN(ContainerState state, LoadContainer(store, id));
  if (LiveStatus(state, store) != ContainerStatus::kPaused)
    return Status::InvalidArgument("container not paused");
  return FreezeCgroup(state, false);
}

Status UpdateContainer(const StateStore& store, const std::string& id, const Resources& r) {
  ASSIGN_OR_RETURN(ContainerState state, LoadContainer(store, id));
  if (LiveStatus(state, store) == ContainerStatus::kStopped)
    return Status::InvalidArgument("container not running");
  return ApplyResources(state, r);
}

Result<std::vector<int>> ContainerPids(const StateStore& store, const std::string& id) {
  ASSIGN_OR_RETURN(ContainerState state, LoadContainer(store, id));
  if (LiveStatus(state, store) == ContainerStatus::kStopped) return std::vector<int>{};
  return CgroupPids(state);
}

Result<std::string> ContainerPsTable(const StateStore& store, const std::string& id,
                                     const std::vector<std::string>& ps_args) {
  ASSIGN_OR_RETURN(std::vector<int> pids, ContainerPids(store, id));
  // Resolve ps(1) before forking; the child only dup2s and execs.
  std::string ps_path;
  for (const char* dir : {"/usr/bin/ps", "/bin/ps", "/usr/local/bin/ps"})
    if (::access(dir, X_OK) == 0) {
      ps_path = dir;
      break;
    }
  if (ps_path.empty()) return Status::NotFound("ps(1) not found");
  std::vector<std::string> args = {"ps"};
  if (ps_args.empty()) args.push_back("-ef");
  args.insert(args.end(), ps_args.begin(), ps_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int pfd[2];
  if (::pipe2(pfd, O_CLOEXEC) != 0) return Status::FromErrno(errno, "pipe2");
  UniqueFd rd(pfd[0]), wr(pfd[1]);
  pid_t child = ::fork();
  if (child < 0) return Status::FromErrno(errno, "fork");
  if (child == 0) {
    ::dup2(wr.get(), 1);
    ::execve(ps_path.c_str(), argv.data(), environ);
    ::_exit(127);
  }
  wr.Reset();
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = RetryOnEintr([&] { return ::read(rd.get(), buf, sizeof buf); });
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  RetryOnEintr([&] { return ::waitpid(child, &status, 0); });
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Status::Internal("ps " + (args.size() > 1 ? args[1] : "") + " failed");
  // Keep the header and the lines whose PID column is one of the container's pids.
  size_t eol = out.find('\n');
  std::string header = out.substr(0, eol);
  std::istringstream hs(header);
  std::string col;
  int pid_col = -1;
  for (int i = 0; hs >> col; ++i)
    if (col == "PID") pid_col = i;
  if (pid_col < 0) return Status::InvalidArgument("ps output has no PID column");
  std::string table = header + "\n";
  std::istringstream lines(eol == std::string::npos ? "" : out.substr(eol + 1));
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream ls(line);
    std::string field;
    for (int i = 0; i <= pid_col && ls >> field; ++i) {
    }
    Result<int64_t> pid = ParseInt64(field, 1, INT32_MAX, "pid");
    if (pid.ok() && std::find(pids.begin(), pids.end(), *pid) != pids.end()) table += line + "\n";
  }
  return table;
}

}  // namespace imgfs::runc
