// create, start and run.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>

#include "core/fd.h"
#include "gpu-hooks/inject.h"
#include "runc-lite/cgroups.h"
#include "runc-lite/container.h"
#include "runc-lite/hooks.h"
#include "runc-lite/interrupt.h"
#include "runc-lite/pty_relay.h"
#include "runc-lite/runtime_log.h"
#include "runc-lite/spawn.h"

namespace imgfs::runc {
namespace {

std::string IdMapText(const std::vector<IdMapping>& maps) {
  std::string out;
  for (const IdMapping& m : maps)
    out += std::to_string(m.container_id) + " " + std::to_string(m.host_id) + " " +
           std::to_string(m.size) + "\n";
  return out;
}

Status WriteProcFile(int pid, const char* file, const std::string& text) {
  std::string path = "/proc/" + std::to_string(pid) + "/" + file;
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_WRONLY));
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    return Status::FromErrno(errno, "write " + path);
  return Status::Ok();
}

// Undoes a half-done create: kills the child, removes cgroups and the state dir.
class CreateCleanup {
 public:
  CreateCleanup(const StateStore& store, ContainerState& state) : store_(store), state_(state) {}
  ~CreateCleanup() {
    if (done_) return;
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      RetryOnEintr([&] { return ::waitpid(pid_, nullptr, 0); });
    }
    (void)DestroyCgroups(state_);
    (void)store_.Remove(state_.id);
  }
  void set_pid(pid_t pid) { pid_ = pid; }
  void Dismiss() { done_ = true; }

 private:
  const StateStore& store_;
  ContainerState& state_;
  pid_t pid_ = -1;
  bool done_ = false;
};

// Idmaps the bind sources PLAN marks so to the user namespace of init PID (its maps written):
// the runtime's clones of the sources (open_tree), which init attaches afterwards.
Status IdmapBindSources(const InitPlan& plan, pid_t pid) {
  UniqueFd userns;
  for (const MountOp& m : plan.mounts) {
    if (!m.idmap) continue;
    if (!userns.valid()) {
      ASSIGN_OR_RETURN(userns, OpenFile("/proc/" + std::to_string(pid) + "/ns/user", O_RDONLY));
    }
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_IDMAP;
    attr.userns_fd = static_cast<uint64_t>(userns.get());
    unsigned flags = AT_EMPTY_PATH | (m.idmap_recursive ? AT_RECURSIVE : 0);
    if (::mount_setattr(m.source_fd, "", flags, &attr, sizeof attr) != 0)
      return Status::FromErrno(errno, std::string("idmapping the bind source for /") + m.dest);
  }
  return Status::Ok();
}

// Joins the pid namespace named by SPEC (children only) and unshares a new time namespace with
// its offsets; both affect only the processes this runtime creates next.
Status PrepareParentNamespaces(const Spec& spec) {
  if (const Namespace* pid = spec.FindNamespace("pid"); pid && !pid->path.empty()) {
    ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(pid->path, O_RDONLY));
    if (::setns(fd.get(), CLONE_NEWPID) != 0) return Status::FromErrno(errno, "setns " + pid->path);
  }
  if (const Namespace* t = spec.FindNamespace("time")) {
    if (!t->path.empty()) {
      ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(t->path, O_RDONLY));
      if (::setns(fd.get(), CLONE_NEWTIME) != 0)
        return Status::FromErrno(errno, "setns " + t->path);
    } else {
      if (::unshare(CLONE_NEWTIME) != 0) return Status::FromErrno(errno, "unshare time namespace");
      std::string offsets;
      for (const auto& [clock, off] : spec.linux.time_offsets)
        offsets +=
            clock + " " + std::to_string(off.first) + " " + std::to_string(off.second) + "\n";
      if (!offsets.empty()) RETURN_IF_ERROR(WriteProcFile(getpid(), "timens_offsets", offsets));
    }
  }
  return Status::Ok();
}

}  // namespace

Status WritePidFile(const std::string& path, int pid) {
  std::string tmp = path + ".runc-lite.tmp";
  {
    ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644));
    RETURN_IF_ERROR(WriteFull(fd.get(), std::to_string(pid)));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::FromErrno(errno, "rename " + tmp);
  return Status::Ok();
}

namespace {

// GPUs requested through NVIDIA_VISIBLE_DEVICES, CDI annotations or CDI names become device
// nodes, cgroup rules, mounts and a createContainer hook in the spec itself (gpu-hooks); CDI
// specs are read from CDI_ROOT/etc/cdi and CDI_ROOT/var/run/cdi.
Status InjectGpuEdits(const std::string& cdi_root, std::string* config_text) {
  nlohmann::json j = nlohmann::json::parse(*config_text, nullptr, false);
  if (j.is_discarded()) return Status::InvalidArgument("malformed JSON");
  ASSIGN_OR_RETURN(gpu::InjectResult injected,
                   gpu::InjectGpus(j, cdi_root.empty() ? "/" : cdi_root));
  if (injected.requested) *config_text = j.dump();
  return Status::Ok();
}

}  // namespace

Result<std::string> ResolveRootfs(const Spec& spec, const std::string& bundle) {
  std::string rootfs = spec.root_path[0] == '/' ? spec.root_path : bundle + "/" + spec.root_path;
  char real[PATH_MAX];
  if (::realpath(rootfs.c_str(), real) == nullptr)
    return Status::FromErrno(errno, "rootfs " + rootfs);
  // The host's own tree would be set up as the container's (and masked, remounted...).
  if (std::string(real) == "/")
    return Status::InvalidArgument("rootfs " + rootfs + " resolves to the host's /: refusing");
  return std::string(real);
}

Result<int> CreateContainer(const StateStore& store, const CreateOptions& opts) {
  RETURN_IF_ERROR(ValidateId(opts.id));
  // From here a SIGINT/SIGTERM/SIGHUP/SIGQUIT becomes an error at the next checkpoint, so the
  // cleanup below removes what was made (declared first: restored last).
  InterruptGuard interrupt;
  ASSIGN_OR_RETURN(std::string config_text,
                   ReadFileToString(opts.bundle + "/config.json", 16 << 20));
  RETURN_IF_ERROR(
      InjectGpuEdits(opts.cdi_root, &config_text).WithContext(opts.bundle + "/config.json"));
  ASSIGN_OR_RETURN(Spec spec, ParseBundleSpec(config_text, opts.bundle + "/config.json"));
  ASSIGN_OR_RETURN(std::string rootfs, ResolveRootfs(spec, opts.bundle));
  RETURN_IF_ERROR(interrupt.Check());
  LogPhase("create: config parsed");

  RETURN_IF_ERROR(store.CreateDir(opts.id));
  ContainerState state;
  state.id = opts.id;
  state.bundle = opts.bundle;
  state.rootfs = rootfs;
  state.created = NowRfc3339Nano();
  state.annotations = spec.annotations;
  state.config_json = std::move(config_text);
  state.creating = true;
  CreateCleanup cleanup(store, state);

  std::string fifo = store.FifoPath(opts.id);
  if (::mkfifo(fifo.c_str(), 0622) != 0) return Status::FromErrno(errno, "mkfifo " + fifo);
  // Writable by init even when it runs as an unmapped uid in a user namespace (umask-free).
  if (::chmod(fifo.c_str(), 0622) != 0) return Status::FromErrno(errno, "chmod " + fifo);
  ASSIGN_OR_RETURN(CgroupLayout layout, DetectCgroupLayout());
  LogPhase("create: cgroup layout detected");
  RETURN_IF_ERROR(CreateCgroups(layout, spec.linux.cgroups_path, opts.id, state));
  LogPhase("create: cgroup directories made");
  Resources resources = spec.linux.resources.value_or(Resources{});
  if (!resources.devices.empty() || !spec.linux.devices.empty()) {
    for (const DeviceRule& rule : ImplicitDeviceRules(spec)) resources.devices.push_back(rule);
  }
  RETURN_IF_ERROR(ApplyResources(state, resources));
  LogPhase("create: resources written");
  RETURN_IF_ERROR(store.Save(state));
  RETURN_IF_ERROR(interrupt.Check());

  Arena arena;
  PlanFds fds;
  InitPlan plan;
  RETURN_IF_ERROR(BuildInitPlan(spec, opts, rootfs, layout, state, arena, fds, plan));
  ASSIGN_OR_RETURN(UniqueFd fifo_fd, OpenFile(fifo, O_PATH));
  plan.fifo_fd = fifo_fd.get();
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return Status::FromErrno(errno, "socketpair");
  UniqueFd parent_sock(sv[0]), child_sock(sv[1]);
  plan.sync_fd = child_sock.get();
  plan.restore_signal_mask = true;
  plan.signal_mask = interrupt.original_mask();
  UniqueFd cgroup_fd = OpenUnifiedCgroup(state);
  RETURN_IF_ERROR(PrepareParentNamespaces(spec));
  RETURN_IF_ERROR(interrupt.Check());

  bool into_cgroup = false;
  LogPhase("create: plan built");
  ASSIGN_OR_RETURN(pid_t pid, Clone3(NewNamespaceFlags(spec), cgroup_fd.get(), &into_cgroup));
  if (pid == 0) {
    ::close(parent_sock.get());
    RunContainerInit(plan);
  }
  cleanup.set_pid(pid);
  child_sock.Reset();

  if (spec.FindNamespace("user") && spec.FindNamespace("user")->path.empty()) {
    if (!spec.linux.uid_mappings.empty())
      RETURN_IF_ERROR(WriteProcFile(pid, "uid_map", IdMapText(spec.linux.uid_mappings)));
    if (!spec.linux.gid_mappings.empty())
      RETURN_IF_ERROR(WriteProcFile(pid, "gid_map", IdMapText(spec.linux.gid_mappings)));
    RETURN_IF_ERROR(IdmapBindSources(plan, pid));
  }
  fds.fds.clear();
  LogPhase("create: init cloned");
  RETURN_IF_ERROR(AddPidToCgroups(state, pid, into_cgroup));
  LogPhase("create: init placed in its cgroups");
  if (spec.process->oom_score_adj)
    RETURN_IF_ERROR(
        WriteProcFile(pid, "oom_score_adj", std::to_string(*spec.process->oom_score_adj)));
  ASSIGN_OR_RETURN(ProcStat ps, ReadProcStat(pid));
  state.pid = pid;
  state.start_time = ps.start_time;
  RETURN_IF_ERROR(WriteSync(parent_sock.get(), kSyncGo));
  if (!spec.hooks.start_container.empty()) {
    ContainerState created = state;
    created.creating = false;
    RETURN_IF_ERROR(WriteSync(parent_sock.get(), kSyncStateJson,
                              OciStateJson(created, ContainerStatus::kCreated)));
  }
  for (;;) {
    SyncMsg msg;
    Result<int> type = ReadSync(parent_sock.get(), &msg, interrupt.fd());
    if (!type.ok()) return type.status().WithContext("container init");
    if (*type == 0) return Status::Internal("container init exited during setup");
    if (*type == kSyncReady) break;
    if (*type == kSyncHooks) {
      std::string json = OciStateJson(state, ContainerStatus::kCreating);
      RETURN_IF_ERROR(
          RunHooks(spec.hooks.prestart, json, 0, interrupt.fd()).WithContext("prestart hook"));
      RETURN_IF_ERROR(RunHooks(spec.hooks.create_runtime, json, 0, interrupt.fd())
                          .WithContext("createRuntime hook"));
      RETURN_IF_ERROR(RunHooks(spec.hooks.create_container, json, pid, interrupt.fd())
                          .WithContext("createContainer hook"));
      RETURN_IF_ERROR(WriteSync(parent_sock.get(), kSyncHooksDone));
    }
  }
  LogPhase("create: init ready (namespaces, mounts, pivot_root done)");
  state.creating = false;
  RETURN_IF_ERROR(interrupt.Check());
  RETURN_IF_ERROR(store.Save(state));
  if (!opts.pid_file.empty()) RETURN_IF_ERROR(WritePidFile(opts.pid_file, pid));
  RETURN_IF_ERROR(interrupt.Check());
  cleanup.Dismiss();
  return static_cast<int>(pid);
}

Status StartContainer(const StateStore& store, const std::string& id) {
  ASSIGN_OR_RETURN(ContainerState state, store.Load(id));
  ContainerStatus st = LiveStatus(state, store);
  if (st == ContainerStatus::kStopped)
    return Status::InvalidArgument("cannot start a container that has stopped");
  if (st != ContainerStatus::kCreated)
    return Status::InvalidArgument(std::string("cannot start an already ") + StatusName(st) +
                                   " container");
  std::string fifo = store.FifoPath(id);
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(fifo, O_RDONLY | O_NONBLOCK));
  for (;;) {
    pollfd p{fd.get(), POLLIN, 0};
    int rc = RetryOnEintr([&] { return ::poll(&p, 1, 100); });
    if (rc < 0) return Status::FromErrno(errno, "poll exec fifo");
    if (rc > 0) break;
    if (LiveStatus(state, store) == ContainerStatus::kStopped)
      return Status::InvalidArgument("cannot start a container that has stopped");
  }
  char c;
  ssize_t n = RetryOnEintr([&] { return ::read(fd.get(), &c, 1); });
  ::unlink(fifo.c_str());
  if (n != 1) return Status::Internal("container init exited before start");
  LogPhase("start: init released");
  // Init keeps its end open until the program's execve closes it (close-on-exec): wait for that
  // EOF, so a signal sent once `start` returns reaches the program, not init's setup.
  for (;;) {
    pollfd p{fd.get(), POLLIN, 0};
    if (RetryOnEintr([&] { return ::poll(&p, 1, -1); }) < 0)
      return Status::FromErrno(errno, "poll exec fifo");
    char buf[64];
    ssize_t r = RetryOnEintr([&] { return ::read(fd.get(), buf, sizeof buf); });
    if (r == 0 || (r < 0 && errno != EAGAIN)) break;
  }
  LogPhase("start: program exec'd");
  ASSIGN_OR_RETURN(Spec spec, ParseSpec(state.config_json));
  if (!spec.hooks.poststart.empty()) {
    Status hs = RunHooks(spec.hooks.poststart, OciStateJson(state, ContainerStatus::kRunning));
    if (!hs.ok()) LogWarning("poststart hook: " + hs.ToString());
  }
  return Status::Ok();
}

Result<int> RunContainer(const StateStore& store, const CreateOptions& opts, bool detach) {
  // In the foreground without a console socket, a terminal is a pty relayed by this process (as
  // runc gives one); the master arrives during create if process.terminal is set.
  CreateOptions o = opts;
  ConsolePair console;
  if (!detach && o.console_socket.empty()) {
    ASSIGN_OR_RETURN(console, MakeConsolePair());
    o.console_fd = console.child_end.get();
  }
  ASSIGN_OR_RETURN(int pid, CreateContainer(store, o));
  console.child_end.Reset();
  UniqueFd master =
      console.relay_end.valid() ? TakeQueuedMaster(console.relay_end.get()) : UniqueFd();
  Status st = StartContainer(store, opts.id);
  if (!st.ok()) {
    (void)DeleteContainer(store, opts.id, true);
    return st;
  }
  if (detach) return 0;
  ASSIGN_OR_RETURN(
      int status, master.valid() ? RelayPtyAndWait(pid, master.get()) : WaitForwardingSignals(pid));
  LogPhase("run: program exited");
  (void)DeleteContainer(store, opts.id, true);
  LogPhase("run: deleted");
  return status;
}

}  // namespace imgfs::runc
