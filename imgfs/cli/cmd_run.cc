// imgfs run: one container from an image, lazily: mount (or reuse the mount of) the image
// through the store's daemon, put a writable overlay over it, make an OCI config from the image
// config and the flags, and run it with runc-lite (or --runtime), as `podman run` would.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>
#include <thread>

#include "core/digest.h"
#include "core/fd.h"
#include "core/flags.h"
#include "core/numbers.h"
#include "gpu-hooks/inject.h"
#include "imgfs/cli/args.h"
#include "imgfs/cli/commands.h"
#include "imgfs/cli/config.h"
#include "imgfs/cli/containers.h"
#include "imgfs/cli/control_client.h"
#include "imgfs/cli/registry_flags.h"
#include "imgfs/cli/run_config.h"
#include "imgfs/cli/usage.h"
#include "imgfs/daemon/daemon.h"
#include "imgfs/daemon/mount_point.h"
#include "runc-lite/spec_default.h"

extern char** environ;

namespace imgfs::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Exit codes for failures of the run itself, as podman uses them.
constexpr int kRunFailed = 125;      // imgfs or the runtime failed before the program ran
constexpr int kNotExecutable = 126;  // the program exists but cannot be executed
constexpr int kProgramNotFound = 127;

struct Timings {
  bool enabled = false;
  Clock::time_point start = Clock::now(), last = start;
  void Step(const char* what) {
    if (!enabled) return;
    auto now = Clock::now();
    std::fprintf(stderr, "imgfs run: %-22s %8.1f ms  (at %.1f ms)\n", what,
                 std::chrono::duration<double, std::milli>(now - last).count(),
                 std::chrono::duration<double, std::milli>(now - start).count());
    last = now;
  }
};

// The runtime: --runtime, else runc-lite beside this program (installed) or in the build tree
// (BUILD/imgfs/imgfs and BUILD/runc-lite/runc-lite), else runc-lite on PATH.
std::string FindRuntime(const std::string& flag) {
  if (!flag.empty()) return flag;
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = 0;
    std::string dir = std::filesystem::path(self).parent_path();
    for (const std::string& c : {dir + "/runc-lite", dir + "/../runc-lite/runc-lite"})
      if (::access(c.c_str(), X_OK) == 0) return c;
  }
  return "runc-lite";
}

Result<std::string> RandomId() {
  unsigned char bytes[6];
  if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes))
    return Status::FromErrno(errno, "getrandom");
  static const char kHex[] = "0123456789abcdef";
  std::string id;
  for (unsigned char c : bytes) id += kHex[c >> 4], id += kHex[c & 15];
  return id;
}

// In a forked child: execs the runtime's ARGV, or says why not and exits 125.
[[noreturn]] void ExecRuntime(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execvp(args[0], args.data());
  std::fprintf(stderr, "imgfs run: exec %s: %s\n", args[0], std::strerror(errno));
  ::_exit(kRunFailed);
}

// Runs ARGV to completion with its output captured (for `RUNTIME spec`, `RUNTIME delete`).
Result<std::string> RunCaptured(const std::vector<std::string>& argv, const std::string& cwd) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return Status::FromErrno(errno, "pipe");
  UniqueFd read_end(out[0]), write_end(out[1]);
  pid_t pid = ::fork();
  if (pid < 0) return Status::FromErrno(errno, "fork");
  if (pid == 0) {
    ::dup2(write_end.get(), 1);
    ::dup2(write_end.get(), 2);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  write_end.Reset();
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = RetryOnEintr([&] { return ::read(read_end.get(), buf, sizeof buf); })) > 0;)
    text.append(buf, static_cast<size_t>(n));
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return Status::Internal(argv[0] + " " + argv[1] + " failed: " +
                            (text.empty() ? "exit " + std::to_string(WEXITSTATUS(status)) : text));
  }
  return text;
}

// Everything a run made, undone in reverse when it goes out of scope (also after a failure):
// the runtime's state, the overlay, the container directory (unless --keep). The image's mount
// stays: the next run of the image reuses it.
// A detached container (-d) that started keeps its record and log (not its bundle or layers)
// for `imgfs ps` and `imgfs logs` until `imgfs ps --prune`, unless --rm was given.
struct Container {
  std::string id, dir, rootfs, runtime, runtime_root;
  bool overlay_mounted = false, runtime_started = false, keep = false, keep_record = false;

  ~Container() {
    if (runtime_started) {
      (void)RunCaptured({runtime, "--root", runtime_root, "delete", "--force", id}, "");
    }
    if (overlay_mounted && ::umount2(rootfs.c_str(), MNT_DETACH) != 0)
      std::fprintf(stderr, "imgfs run: unmount %s: %s\n", rootfs.c_str(), std::strerror(errno));
    if (dir.empty() || keep) return;
    std::error_code ec;
    if (!keep_record) {
      std::filesystem::remove_all(dir, ec);
      return;
    }
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      std::string name = entry.path().filename();
      if (name != "state.json" && name != "log") std::filesystem::remove_all(entry.path(), ec);
    }
  }
};

constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

// Waits for the runtime PID, passing the signals we get on to it (the runtime passes them to the
// container). A container's PID 1 ignores SIGINT and SIGTERM unless it handles them, so the first
// SIGINT/SIGTERM/SIGHUP starts STOP_TIMEOUT, after which (or at a second one) the container is
// killed, as `podman stop` does. Returns the runtime's wait status.
Result<int> Supervise(pid_t pid, int sigfd, std::chrono::seconds stop_timeout,
                      const std::function<void()>& kill_container) {
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd.valid()) return Status::FromErrno(errno, "pidfd_open");
  std::optional<Clock::time_point> deadline;
  bool killed = false;
  for (;;) {
    int timeout = -1;
    if (deadline && !killed) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now());
      timeout = static_cast<int>(std::max<int64_t>(0, left.count()));
    }
    pollfd fds[2] = {{pidfd.get(), POLLIN, 0}, {sigfd, POLLIN, 0}};
    int n = ::poll(fds, 2, timeout);
    if (n < 0 && errno != EINTR) return Status::FromErrno(errno, "poll");
    if (n > 0 && (fds[0].revents & POLLIN)) break;
    if (n > 0 && (fds[1].revents & POLLIN)) {
      signalfd_siginfo info;
      if (::read(sigfd, &info, sizeof info) == sizeof info) {
        int sig = static_cast<int>(info.ssi_signo);
        ::kill(pid, sig);
        if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
          if (deadline && !killed) {
            kill_container();
            killed = true;
          }
          if (!deadline) deadline = Clock::now() + stop_timeout;
        }
      }
    }
    if (n == 0 && deadline && !killed) {
      kill_container();
      killed = true;
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

struct ImageMount {
  std::string mountpoint;
  nlohmann::json image_config;  // the OCI image config, as the daemon read it from the index
};

// What the store's daemon says of its mount at MP (NotFound when it serves none there).
Result<ImageMount> MountInfo(const std::string& store, const std::string& mp) {
  ASSIGN_OR_RETURN(nlohmann::json stats,
                   ControlCall(daemon::DaemonSocketPath(store), "GET", "/stats"));
  for (const auto& m : stats["mounts"])
    if (m.value("mountpoint", "") == mp)
      return ImageMount{mp, m.value("image_config", nlohmann::json())};
  return Status::NotFound("the daemon of " + store + " serves nothing at " + mp);
}

// The image's mount for this store: STORE/mounts/KEY (KEY from the image and remote), reused
// when the store's daemon already serves it.
Result<ImageMount> MountImage(const std::string& store, daemon::MountRequest request,
                              uint64_t cache_size, bool set_cache) {
  std::string key = Sha256(request.image + "\n" + request.remote).Hex().substr(0, 16);
  std::string mp = store + "/mounts/" + key;
  if (daemon::StoreOfMount(mp).ok()) {
    if (Result<ImageMount> reused = MountInfo(store, mp); reused.ok()) return reused;
  }
  std::error_code ec;
  std::filesystem::create_directories(mp, ec);
  if (ec) return Status::FromErrno(ec.value(), "create " + mp);
  request.mountpoint = mp;
  nlohmann::json image_config;
  RETURN_IF_ERROR(
      MountThroughDaemon(store, request, cache_size, set_cache, &image_config).status());
  if (!image_config.is_null()) return ImageMount{mp, std::move(image_config)};
  return MountInfo(store, mp);  // a daemon of an older imgfs, which does not say
}

// Copies the runtime's standard output to ours, noting when its first byte came.
void CopyOutput(int from, Clock::time_point* first, std::atomic<bool>* seen) {
  char buf[65536];
  for (ssize_t n; (n = RetryOnEintr([&] { return ::read(from, buf, sizeof buf); })) > 0;) {
    if (!seen->exchange(true)) *first = Clock::now();
    (void)WriteFull(STDOUT_FILENO, std::string_view(buf, static_cast<size_t>(n)));
  }
}

// Starts the container detached (-d): `RUNTIME run -d` with its output (and so the container's)
// appended to DIR/log, this process the subreaper that inherits the container's init. Once the
// container runs, writes its ID on READY_FD and closes it (the `imgfs run -d` that forked us
// prints it and exits), moves its own stdout and stderr to the log, then waits for the
// container as Supervise does. Returns the container's wait status.
Result<int> RunDetached(Container& c, std::vector<std::string> argv, int ready_fd, int sigfd,
                        const sigset_t& previous, std::chrono::seconds stop_timeout,
                        ContainerRecord* record) {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return Status::FromErrno(errno, "subreaper");
  const std::string log = c.dir + "/log", pid_file = c.dir + "/init.pid";
  ASSIGN_OR_RETURN(UniqueFd log_fd, OpenFile(log, O_WRONLY | O_CREAT | O_APPEND, 0600));
  argv.insert(argv.begin() + 4, {"--detach", "--pid-file", pid_file});
  pid_t pid = ::fork();
  if (pid < 0) return Status::FromErrno(errno, "fork");
  if (pid == 0) {
    ::sigprocmask(SIG_SETMASK, &previous, nullptr);
    int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::dup2(log_fd.get(), STDOUT_FILENO);
    ::dup2(log_fd.get(), STDERR_FILENO);
    ExecRuntime(argv);
  }
  c.runtime_started = true;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    Result<std::string> text = ReadFileToString(log, 1u << 20);
    std::string last = text.ok() ? *text : "";
    while (!last.empty() && last.back() == '\n') last.pop_back();
    last = last.substr(last.rfind('\n') == std::string::npos ? 0 : last.rfind('\n') + 1);
    return Status::Internal(c.runtime + " failed to start the container" +
                            (last.empty() ? std::string() : ": " + last));
  }
  ASSIGN_OR_RETURN(std::string pid_text, ReadFileToString(pid_file, 64));
  ASSIGN_OR_RETURN(uint64_t init, ParseUint64(pid_text.substr(0, pid_text.find('\n')), 1, INT32_MAX,
                                              "the container's init pid"));
  record->status = "running";
  RETURN_IF_ERROR(WriteRecord(c.dir, *record));
  c.keep_record = true;
  std::string id_line = c.id + "\n";
  (void)WriteFull(ready_fd, id_line);
  ::close(ready_fd);
  ::dup2(log_fd.get(), STDOUT_FILENO);
  ::dup2(log_fd.get(), STDERR_FILENO);
  return Supervise(static_cast<pid_t>(init), sigfd, stop_timeout, [&c] {
    (void)RunCaptured({c.runtime, "--root", c.runtime_root, "kill", c.id, "KILL"}, "");
  });
}

// SIGFD reads the signals Supervise passes on; PREVIOUS is the mask the runtime gets back.
// READY_FD (-d; else -1): where RunDetached reports that the container runs.
Result<int> Run(FlagSet& flags, const std::vector<std::string>& positional, int sigfd,
                const sigset_t& previous, int ready_fd) {
  Timings timings;
  timings.enabled = flags.GetBool("timings");
  const Config& config = GlobalConfig();
  std::string store = flags.IsSet("store") ? flags.GetString("store") : config.Get("store");
  char real[PATH_MAX];
  std::error_code ec;
  std::filesystem::create_directories(store, ec);
  if (!::realpath(store.c_str(), real)) return Status::FromErrno(errno, "store " + store);
  store = real;
  if (store.find_first_of(",:") != std::string::npos)
    return Status::InvalidArgument("store path " + store +
                                   " has a ',' or ':', which an overlay mount cannot take");

  RunOptions options;
  options.command.assign(positional.begin() + 1, positional.end());
  if (!options.command.empty() && options.command[0] == "--")  // IMAGE -- COMMAND
    options.command.erase(options.command.begin());
  for (const std::string& file : flags.GetList("env-file")) {
    ASSIGN_OR_RETURN(std::string text, ReadFileToString(file, 1u << 20));
    std::vector<std::string> host;
    for (char** e = environ; *e; ++e) host.push_back(*e);
    ASSIGN_OR_RETURN(std::vector<std::string> env, ParseEnvFile(text, host));
    options.env.insert(options.env.end(), env.begin(), env.end());
  }
  for (const std::string& e : flags.GetList("env")) {
    if (e.find('=') == std::string::npos) {  // -e K: this environment's K
      if (const char* v = std::getenv(e.c_str())) options.env.push_back(e + "=" + v);
      continue;
    }
    options.env.push_back(e);
  }
  options.volumes = flags.GetList("volume");
  options.workdir = flags.GetString("workdir");
  options.user = flags.GetString("user");
  options.net = flags.GetString("net");
  options.read_only = flags.GetBool("read-only");
  options.tty = flags.GetBool("tty");
  if (flags.IsSet("memory")) {
    ASSIGN_OR_RETURN(uint64_t m, flags.GetSize("memory"));
    options.memory = m;
  }
  if (flags.IsSet("cpus")) {
    const std::string& text = flags.GetString("cpus");
    char* end = nullptr;
    double cpus = std::strtod(text.c_str(), &end);
    if (text.empty() || *end || !(cpus > 0 && cpus <= 1024))
      return Status::InvalidArgument("--cpus " + text + ": want a number of CPUs, 0 < N <= 1024");
    options.cpus = cpus;
  }
  if (flags.IsSet("gpus")) {
    ASSIGN_OR_RETURN(options.gpus, GpuVisibleDevices(flags.GetString("gpus")));
  }
  if (flags.IsSet("pids-limit")) {
    ASSIGN_OR_RETURN(int64_t p, flags.GetInt64("pids-limit", -1, INT32_MAX));
    options.pids_limit = p;
  }

  Container c;
  c.keep = flags.GetBool("keep");
  c.runtime = FindRuntime(flags.GetString("runtime"));
  c.runtime_root = store + "/runtime";
  if (flags.IsSet("name")) {
    c.id = flags.GetString("name");
    RETURN_IF_ERROR(CheckContainerId(c.id));
  } else {
    ASSIGN_OR_RETURN(c.id, RandomId());
  }

  // The image, mounted (or its mount reused).
  daemon::MountRequest request;
  request.image = positional[0];
  request.remote = flags.IsSet("remote") ? flags.GetString("remote") : config.Get("remote");
  request.ca_file = flags.IsSet("ca-file") ? flags.GetString("ca-file") : config.Get("ca_file");
  request.trace = flags.IsSet("trace") ? flags.GetString("trace") : config.Get("trace.mode");
  ASSIGN_OR_RETURN(request.idle_unmount, ParseKeepWarm(flags.GetString("keep-warm")));
  if (registry::IsRegistryReference(request.image) ||
      registry::IsRegistryReference(request.remote)) {
    Args registry_args;  // the registry flags, read by the one function that reads them
    for (const char* name : {"creds", "tls-verify", "ca-file"})
      if (flags.IsSet(name)) registry_args.values[name] = flags.GetString(name);
    if (flags.GetBool("plain-http")) registry_args.switches.insert("plain-http");
    ASSIGN_OR_RETURN(registry::ClientOptions registry_options,
                     RegistryOptionsFromArgs(registry_args));
    RETURN_IF_ERROR(ResolveRegistryMount(&request.image, &request.remote, registry_options,
                                         flags.GetString("platform")));
  } else if (flags.GetBool("plain-http") || flags.IsSet("tls-verify")) {
    return Status::InvalidArgument("--plain-http and --tls-verify are for registries");
  }
  ASSIGN_OR_RETURN(uint64_t cache_size,
                   ParseSize(flags.IsSet("cache-size") ? flags.GetString("cache-size")
                                                       : config.Get("cache_size"),
                             "--cache-size", daemon::kMaxCacheSize));
  ASSIGN_OR_RETURN(ImageMount mounted,
                   MountImage(store, request, cache_size, flags.IsSet("cache-size")));
  const std::string& image_mp = mounted.mountpoint;
  timings.Step("resolve + mount");

  // The container's directory: bundle, overlay upper and work dirs, its root.
  std::filesystem::create_directories(store + "/containers", ec);
  ::chmod((store + "/containers").c_str(), 0700);
  c.dir = store + "/containers/" + c.id;
  if (::mkdir(c.dir.c_str(), 0700) != 0) {
    int err = errno;
    c.dir.clear();  // not ours to remove
    if (err == EEXIST) return Status::AlreadyExists("a container named " + c.id + " exists");
    return Status::FromErrno(err, "create the container directory");
  }
  ContainerRecord record;
  record.id = c.id;
  record.image = positional[0];
  record.command = options.command;
  record.created = static_cast<int64_t>(::time(nullptr));
  record.monitor_pid = ::getpid();
  record.monitor_start = ProcessStartTime(record.monitor_pid);
  record.detached = ready_fd >= 0;
  record.runtime = c.runtime;
  record.runtime_root = c.runtime_root;
  RETURN_IF_ERROR(WriteRecord(c.dir, record));
  c.rootfs = c.dir + "/rootfs";
  for (const char* sub : {"/rootfs", "/upper", "/work"})
    if (::mkdir((c.dir + sub).c_str(), 0755) != 0) return Status::FromErrno(errno, c.dir + sub);
  std::string overlay =
      "lowerdir=" + image_mp + ",upperdir=" + c.dir + "/upper,workdir=" + c.dir + "/work";
  if (::mount("overlay", c.rootfs.c_str(), "overlay", 0, overlay.c_str()) != 0)
    return Status::FromErrno(errno, "overlay on " + c.rootfs);
  c.overlay_mounted = true;
  timings.Step("overlay");

  // The OCI config: the runtime's default, the image's config, the flags. The runc-lite this
  // imgfs came with has its default built in here (a fork and exec less at every start); any
  // other runtime writes its own (`RUNTIME spec`).
  std::string spec_file;
  if (flags.IsSet("runtime")) {
    RETURN_IF_ERROR(RunCaptured({c.runtime, "spec", "--bundle", c.dir}, c.dir).status());
    ASSIGN_OR_RETURN(spec_file, ReadFileToString(c.dir + "/config.json", 4u << 20));
  } else {
    spec_file = runc::DefaultSpecJson();
  }
  nlohmann::json spec = nlohmann::json::parse(spec_file, nullptr, false);
  if (!spec.is_object()) return Status::Internal(c.runtime + " spec wrote no JSON object");
  const nlohmann::json& image_config = mounted.image_config;
  std::vector<std::string> notes;
  if (!flags.IsSet("hostname"))
    options.hostname = c.id;
  else
    options.hostname = flags.GetString("hostname");
  Result<nlohmann::json> built = BuildRunConfig(spec, image_config, options, c.rootfs, &notes);
  if (!built.ok()) {
    if (built.status().code() == Code::kNotFound &&
        built.status().message().rfind("executable", 0) == 0) {
      std::fprintf(stderr, "imgfs run: %s\n", built.status().message().c_str());
      return kProgramNotFound;
    }
    return built.status();
  }
  for (const std::string& n : notes) std::fprintf(stderr, "imgfs run: note: %s\n", n.c_str());
  const bool runc_lite = std::filesystem::path(c.runtime).filename() == "runc-lite";
  const std::string cdi_root = flags.IsSet("cdi-root") ? flags.GetString("cdi-root") : "/";
  if (!options.gpus.empty()) {
    // runc-lite injects the GPUs itself at create; any other runtime gets them in the config.
    // Either way the request is resolved here first, so a GPU the node lacks is one line now.
    nlohmann::json probe = *built;
    Result<gpu::InjectResult> injected = gpu::InjectGpus(runc_lite ? probe : *built, cdi_root);
    if (!injected.ok())
      return Status::InvalidArgument("--gpus " + flags.GetString("gpus") + " (devices " +
                                     options.gpus + "): " + injected.status().message());
  }
  // Not synced: a bundle does not outlive the machine's crash (its container dies with it).
  RETURN_IF_ERROR(WriteFileAtomic(c.dir + "/config.json", built->dump(2), 0600,
                                  /*durable=*/false));
  timings.Step("config");

  // Run it: the runtime in a process group of its own, in the terminal's foreground, so Ctrl-C
  // reaches it (and through it the container) and not us; signals sent to us are passed on.
  ASSIGN_OR_RETURN(uint64_t stop_timeout, flags.GetUint64("stop-timeout", 0, 3600));
  int out[2] = {-1, -1};
  const bool capture = timings.enabled && !options.tty;
  const bool interactive = flags.GetBool("interactive") || options.tty;
  if (capture && ::pipe2(out, O_CLOEXEC) != 0) return Status::FromErrno(errno, "pipe");
  UniqueFd out_read(out[0]), out_write(out[1]);
  std::vector<std::string> argv = {c.runtime, "--root", c.runtime_root, "run", "--bundle", c.dir};
  if (runc_lite && flags.IsSet("cdi-root")) argv.insert(argv.end(), {"--cdi-root", cdi_root});
  argv.push_back(c.id);
  if (ready_fd >= 0) {
    Result<int> waited = RunDetached(c, argv, ready_fd, sigfd, previous,
                                     std::chrono::seconds(stop_timeout), &record);
    if (!waited.ok()) return waited.status();
    // The init was ours (subreaper): the runtime's state is left for the destructor to delete.
    record.status = "exited";
    record.exit_code = WIFSIGNALED(*waited) ? 128 + WTERMSIG(*waited) : WEXITSTATUS(*waited);
    record.finished = static_cast<int64_t>(::time(nullptr));
    if (flags.IsSet("rm")) c.keep_record = false;
    (void)WriteRecord(c.dir, record);
    return record.exit_code;
  }
  ::signal(SIGTTOU, SIG_IGN);
  const bool foreground_tty = ::isatty(STDIN_FILENO) && ::tcgetpgrp(STDIN_FILENO) == ::getpgrp();
  Clock::time_point started = Clock::now(), first_byte{};
  std::atomic<bool> seen{false};
  pid_t pid = ::fork();
  if (pid < 0) return Status::FromErrno(errno, "fork");
  if (pid == 0) {
    ::setpgid(0, 0);
    ::signal(SIGTTOU, SIG_DFL);
    ::sigprocmask(SIG_SETMASK, &previous, nullptr);
    if (capture) ::dup2(out_write.get(), STDOUT_FILENO);
    if (!interactive) {  // as podman: the container's stdin is /dev/null unless -i
      int null_fd = ::open("/dev/null", O_RDONLY);
      if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    }
    ExecRuntime(argv);
  }
  c.runtime_started = true;
  ::setpgid(pid, pid);
  if (foreground_tty) ::tcsetpgrp(STDIN_FILENO, pid);
  out_write.Reset();
  std::thread copier;
  if (capture) copier = std::thread(CopyOutput, out_read.get(), &first_byte, &seen);
  Result<int> waited = Supervise(pid, sigfd, std::chrono::seconds(stop_timeout), [&c] {
    (void)RunCaptured({c.runtime, "--root", c.runtime_root, "kill", c.id, "KILL"}, "");
  });
  if (!waited.ok()) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  const int status = waited.ok() ? *waited : 0;
  // `run` deletes the container when it ends by itself; only a runtime that was killed leaves
  // state behind for the destructor to force away.
  c.runtime_started = !waited.ok() || WIFSIGNALED(status);
  if (copier.joinable()) copier.join();
  if (foreground_tty) ::tcsetpgrp(STDIN_FILENO, ::getpgrp());
  if (!waited.ok()) return waited.status();
  if (timings.enabled) {
    if (seen) {
      std::fprintf(stderr, "imgfs run: %-22s %8.1f ms\n", "start -> first output",
                   std::chrono::duration<double, std::milli>(first_byte - started).count());
    }
    timings.Step("run (to exit)");
  }
  record.status = "exited";
  record.exit_code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  record.finished = static_cast<int64_t>(::time(nullptr));
  if (c.keep) (void)WriteRecord(c.dir, record);
  return record.exit_code;
}

// -d: forks the monitor, which runs the container in a session of its own. Returns, in the
// parent, the exit code of `imgfs run -d`: 0 after printing the container's ID once the monitor
// reported it running, else the monitor's own code (it printed the error). Returns nullopt in
// the monitor, with *READY_FD the pipe on which it reports.
Result<std::optional<int>> ForkMonitor(int* ready_fd) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return Status::FromErrno(errno, "pipe");
  UniqueFd read_end(p[0]), write_end(p[1]);
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return Status::FromErrno(errno, "fork");
  if (pid == 0) {
    ::setsid();
    int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    *ready_fd = write_end.Release();
    return std::optional<int>();
  }
  write_end.Reset();
  std::string id;
  char buf[128];
  for (ssize_t n; (n = RetryOnEintr([&] { return ::read(read_end.get(), buf, sizeof buf); })) > 0;)
    id.append(buf, static_cast<size_t>(n));
  if (!id.empty()) {
    std::printf("%s", id.c_str());
    return std::optional<int>(0);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return std::optional<int>(WIFEXITED(status) ? WEXITSTATUS(status) : kRunFailed);
}

}  // namespace

Result<int> RunRun(const ArgList& argv) {
  FlagSet flags("imgfs run [FLAGS] IMAGE [--] [COMMAND [ARG...]]",
                {FlagSet::Syntax::kGnu, /*interleaved=*/false});
  flags.String("store");
  flags.String("config");
  flags.String("remote");
  flags.String("ca-file");
  flags.String("cache-size");
  flags.String("trace");
  flags.List("env", {"e"});
  flags.List("env-file");
  flags.List("volume", {"v"});
  flags.String("workdir", "", {"w"});
  flags.String("user", "", {"u"});
  flags.String("hostname");
  flags.String("net", "none");
  flags.String("name");
  flags.String("runtime");
  flags.String("memory");
  flags.String("cpus");
  flags.String("pids-limit");
  flags.String("gpus");
  flags.String("cdi-root");
  flags.String("keep-warm", kDefaultKeepWarm);
  flags.String("creds");
  flags.String("tls-verify");
  flags.String("platform", "linux/amd64");
  flags.Bool("plain-http");
  flags.String("stop-timeout", "10");
  flags.Bool("read-only");
  flags.Bool("keep");
  flags.Bool("rm");
  flags.Bool("tty", {"t"});
  flags.Bool("interactive", {"i"});
  flags.Bool("detach", {"d"});
  flags.Bool("timings");
  Result<std::vector<std::string>> positional = flags.Parse(argv);
  if (!positional.ok()) {
    std::fprintf(stderr, "imgfs run: %s\n", positional.status().message().c_str());
    return kRunFailed;
  }
  if (flags.help_requested()) {
    std::printf("usage: %s", kRunUsage);
    return 0;
  }
  if (positional->empty()) {
    std::fprintf(stderr, "imgfs run: %s\n", UsageError(kRunUsage).message().c_str());
    return kRunFailed;
  }
  if (flags.IsSet("config")) {
    Result<Config> loaded = Config::Load(flags.GetString("config"));
    if (!loaded.ok()) {
      std::fprintf(stderr, "imgfs run: %s\n", loaded.status().message().c_str());
      return kRunFailed;
    }
    SetGlobalConfig(std::move(*loaded));
  }
  int ready_fd = -1;
  if (flags.GetBool("detach")) {
    if (flags.GetBool("tty") || flags.GetBool("interactive")) {
      std::fprintf(stderr, "imgfs run: -d with -t or -i is not supported (no terminal to keep)\n");
      return kRunFailed;
    }
    Result<std::optional<int>> forked = ForkMonitor(&ready_fd);
    if (!forked.ok()) {
      std::fprintf(stderr, "imgfs run: %s\n", forked.status().message().c_str());
      return kRunFailed;
    }
    if (forked->has_value()) return **forked;
  }
  // Blocked before any thread exists (the store's RocksDB starts some), so that every thread
  // blocks them and they wait for Supervise instead of killing us while the container runs on.
  sigset_t forwarded, previous;
  sigemptyset(&forwarded);
  for (int sig : kForwarded) sigaddset(&forwarded, sig);
  ::sigprocmask(SIG_BLOCK, &forwarded, &previous);
  UniqueFd sigfd(::signalfd(-1, &forwarded, SFD_CLOEXEC));
  if (!sigfd.valid()) {
    std::fprintf(stderr, "imgfs run: signalfd: %s\n", std::strerror(errno));
    return kRunFailed;
  }
  Result<int> rc = Run(flags, *positional, sigfd.get(), previous, ready_fd);
  ::sigprocmask(SIG_SETMASK, &previous, nullptr);
  if (!rc.ok()) {
    std::fprintf(stderr, "imgfs run: %s\n", rc.status().message().c_str());
    return kRunFailed;
  }
  return *rc;
}

}  // namespace imgfs::cli
