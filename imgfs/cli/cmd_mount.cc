// imgfs mount | umount | stats | daemon
#include <elf.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "core/fd.h"
#include "core/log.h"
#include "core/numbers.h"
#include "imgfs/cli/args.h"
#include "imgfs/cli/commands.h"
#include "imgfs/cli/config.h"
#include "imgfs/cli/control_client.h"
#include "imgfs/cli/programs.h"
#include "imgfs/cli/registry_flags.h"
#include "imgfs/cli/usage.h"
#include "imgfs/daemon/daemon.h"
#include "imgfs/daemon/mount_point.h"
#include "imgfs/daemon/store_dir.h"
#include "imgfs/daemon/supervisor.h"
#include "imgfs/registry/registry_pull.h"

namespace imgfs::cli {

std::string StorePath(const Args& args) {
  std::string s = args.Get("store");
  return s.empty() ? GlobalConfig().Get("store") : s;
}

namespace {

// Asks the kernel to read PROGRAM's loadable segments (its code and data, not the debug
// sections after them) now, in the background: the daemon about to start from it (a supervisor
// and its worker, two executions) then finds them in the page cache instead of faulting them in
// from disk a read-ahead window at a time. Best effort: nothing happens on any error.
void ReadAheadProgram(const std::string& program) {
  if (program.find('/') == std::string::npos) return;  // found in PATH by execvp, not here
  UniqueFd fd(::open(program.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  struct stat st;
  Elf64_Ehdr eh;
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      ::pread(fd.get(), &eh, sizeof eh, 0) != sizeof eh ||
      std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > 64)
    return;
  std::vector<Elf64_Phdr> headers(eh.e_phnum);
  const ssize_t want = static_cast<ssize_t>(headers.size() * sizeof(Elf64_Phdr));
  if (::pread(fd.get(), headers.data(), want, static_cast<off_t>(eh.e_phoff)) != want) return;
  uint64_t end = 0;
  for (const Elf64_Phdr& h : headers)
    if (h.p_type == PT_LOAD) end = std::max<uint64_t>(end, h.p_offset + h.p_filesz);
  if (end > 0) ::posix_fadvise(fd.get(), 0, static_cast<off_t>(end), POSIX_FADV_WILLNEED);
}

// Starts `imgfs daemon --store DIR --exit-when-idle` (ImgfsProgram()) detached, logging to the
// configured log file (default STORE/daemon.log), and waits (15 s at most) until it says it
// listens: a byte on a pipe (--ready-fd), or the pipe's end when it died first.
Status SpawnDaemon(const std::string& store, uint64_t cache_size) {
  RETURN_IF_ERROR(daemon::SecureStoreDir(store).status());
  const Config& config = GlobalConfig();
  std::string log = config.Get("log.file").empty() ? store + "/daemon.log" : config.Get("log.file");
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) return Status::FromErrno(errno, "pipe");
  UniqueFd ready_read(ready[0]), ready_write(ready[1]);
  std::vector<std::string> args = {"imgfs",
                                   "daemon",
                                   "--store",
                                   store,
                                   "--cache-size",
                                   std::to_string(cache_size),
                                   "--log-file",
                                   log,
                                   "--exit-when-idle",
                                   "--ready-fd",
                                   std::to_string(ready_write.get())};
  if (config.explicit_file()) args.insert(args.end(), {"--config", config.file()});
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string& program = ImgfsProgram();
  ReadAheadProgram(program);
  pid_t pid = ::fork();
  if (pid < 0) return Status::FromErrno(errno, "fork");
  if (pid == 0) {
    ::setsid();
    int null_fd = ::open("/dev/null", O_RDONLY);
    int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    if (log_fd >= 0) ::dup2(log_fd, 1), ::dup2(log_fd, 2);
    if (::fork() != 0) ::_exit(0);           // the daemon is not our child: no zombie, no session
    ::fcntl(ready_write.get(), F_SETFD, 0);  // the daemon keeps the pipe's write end
    ::execvp(program.c_str(), argv.data());
    ::_exit(127);
  }
  ready_write.Reset();
  int status;
  ::waitpid(pid, &status, 0);
  pollfd p = {ready_read.get(), POLLIN, 0};
  char byte = 0;
  if (RetryOnEintr([&] { return ::poll(&p, 1, 15000); }) == 1 &&
      RetryOnEintr([&] { return ::read(ready_read.get(), &byte, 1); }) == 1)
    return Status::Ok();
  // It may have lost the store to a daemon another `imgfs mount` started at the same moment.
  if (ControlRequest(daemon::DaemonSocketPath(store), "GET", "/stats").ok()) return Status::Ok();
  return Status::Unavailable("the imgfs daemon did not start; see " + log);
}

// The daemon resolves paths from its own working directory: it gets absolute ones. A path that
// does not resolve (a dead mount: ENOTCONN) is made absolute as it is written.
std::string AbsolutePath(const std::string& path) {
  char real[PATH_MAX];
  if (path.empty() || ::realpath(path.c_str(), real)) return path.empty() ? path : real;
  if (path[0] == '/' || !::getcwd(real, sizeof real)) return path;
  return std::string(real) + "/" + path;
}

// The store whose daemon serves the mount at MP: --store when given, else the one the mount
// names in mountinfo, else the configured store.
std::string StoreForMount(const Args& args, const std::string& mp) {
  if (args.Has("store")) return StorePath(args);
  Result<std::string> named = daemon::StoreOfMount(mp);
  return named.ok() ? *named : StorePath(args);
}

Result<daemon::MountRequest> RequestFromArgs(const Args& args) {
  if (args.positional.size() != 2) return UsageError(kMountUsage);
  const Config& config = GlobalConfig();
  ASSIGN_OR_RETURN(uint64_t trace_seconds,
                   ParseUint64(config.FlagOr(args, "trace-seconds", "trace.seconds"), 1,
                               daemon::MountRequest::kMaxTraceSeconds, "--trace-seconds"));
  nlohmann::json j = {{"image", args.positional[0]},
                      {"mountpoint", AbsolutePath(args.positional[1])},
                      {"remote", config.FlagOr(args, "remote", "remote")},
                      {"ca_file", AbsolutePath(config.FlagOr(args, "ca-file", "ca_file"))},
                      {"trace", config.FlagOr(args, "trace", "trace.mode")},
                      {"trace_seconds", trace_seconds}};
  return daemon::MountRequest::FromJson(j);
}

Status ResolveRegistryImage(Args* args) {
  if (!registry::IsRegistryReference(args->positional[0]) &&
      !registry::IsRegistryReference(args->Get("remote"))) {
    if (args->Has("plain-http") || args->Has("tls-verify"))
      return Status::InvalidArgument("--plain-http and --tls-verify are for registries");
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(registry::ClientOptions options, RegistryOptionsFromArgs(*args));
  std::string remote = args->Get("remote");
  RETURN_IF_ERROR(ResolveRegistryMount(&args->positional[0], &remote, options,
                                       args->Get("platform", "linux/amd64")));
  args->values["remote"] = remote;
  return Status::Ok();
}

}  // namespace

Status ResolveRegistryMount(std::string* image, std::string* remote,
                            const registry::ClientOptions& options, const std::string& platform) {
  if (registry::IsRegistryReference(*image)) {
    if (!remote->empty())
      return Status::InvalidArgument(
          "a docker:// image is read from its own repository; drop --remote");
    ASSIGN_OR_RETURN(registry::Reference ref, registry::ParseReference(*image));
    ASSIGN_OR_RETURN(auto client,
                     registry::RegistryClient::Open(ref.host, ref.repository, options));
    ASSIGN_OR_RETURN(registry::PulledImage found,
                     registry::PullFromRegistry(*client, ref, platform, /*with_index=*/false));
    *image = found.index_digest.ToString();
    *remote = registry::RegistryRemoteUrl(ref, options);
  } else if (registry::IsRegistryReference(*remote)) {
    ASSIGN_OR_RETURN(auto parsed, registry::ParseRegistryRemoteUrl(*remote, options));
    *remote = registry::RegistryRemoteUrl(parsed.first, parsed.second);
  }
  return Status::Ok();
}

Result<int> RunMount(const ArgList& argv_in) {
  ArgList argv = argv_in;
  for (auto& a : argv)
    if (a == "-f") a = "--foreground";
  ASSIGN_OR_RETURN(Args args, ParseArgs(argv,
                                        {"store", "remote", "ca-file", "cache-size", "trace",
                                         "trace-seconds", "tls-verify", "platform"},
                                        {"foreground", "plain-http"}));
  if (args.positional.size() == 2) RETURN_IF_ERROR(ResolveRegistryImage(&args));
  ASSIGN_OR_RETURN(daemon::MountRequest request, RequestFromArgs(args));
  ASSIGN_OR_RETURN(uint64_t cache_size,
                   ParseSize(GlobalConfig().FlagOr(args, "cache-size", "cache_size"),
                             "--cache-size", daemon::kMaxCacheSize));
  const std::string store = StorePath(args);
  const std::string socket = daemon::DaemonSocketPath(store);

  if (args.Has("foreground")) {
    if (ControlRequest(socket, "GET", "/stats").ok())
      return Status::AlreadyExists("a daemon already serves " + store + "; mount without -f");
    daemon::DaemonOptions options;
    options.store_path = store;
    options.cache_size = cache_size;
    options.mount = request;
    options.exit_when_idle = true;
    options.on_ready = [](const Result<Digest>& d) {
      if (d.ok()) std::printf("%s\n", d->ToString().c_str()), std::fflush(stdout);
    };
    RETURN_IF_ERROR(daemon::RunDaemon(options));
    return 0;
  }
  ASSIGN_OR_RETURN(std::string digest,
                   MountThroughDaemon(store, request, cache_size, args.Has("cache-size")));
  std::printf("%s\n", digest.c_str());
  return 0;
}

Status EnsureDaemon(const std::string& store, uint64_t cache_size) {
  if (ControlRequest(daemon::DaemonSocketPath(store), "GET", "/stats").ok()) return Status::Ok();
  return SpawnDaemon(store, cache_size);
}

Result<std::string> MountThroughDaemon(const std::string& store,
                                       const daemon::MountRequest& request, uint64_t cache_size,
                                       bool set_cache_size, nlohmann::json* image_config) {
  const std::string socket = daemon::DaemonSocketPath(store);
  Result<nlohmann::json> reply = Status::Unavailable("not asked");
  // Twice at most: a daemon found running may be exiting (its last mount just went away, or a
  // first mount failed) as we ask; then a fresh one is started.
  for (int attempt = 0; attempt < 2 && !reply.ok() && reply.status().code() == Code::kUnavailable;
       ++attempt) {
    if (!ControlRequest(socket, "GET", "/stats").ok()) {
      RETURN_IF_ERROR(SpawnDaemon(store, cache_size));
    } else if (set_cache_size) {
      RETURN_IF_ERROR(ControlCall(socket, "POST", "/cache", {{"cache_size", cache_size}}).status());
    }
    reply = ControlCall(socket, "POST", "/mount", request.ToJson());
  }
  if (!reply.ok()) return reply.status();
  if (image_config && reply->contains("image_config")) *image_config = (*reply)["image_config"];
  return reply->value("digest", "");
}

Result<int> RunUmount(const ArgList& argv) {
  ASSIGN_OR_RETURN(Args args, ParseArgs(argv, {"store"}, {}));
  if (args.positional.size() != 1) return UsageError(kUmountUsage);
  const std::string mp = AbsolutePath(args.positional[0]);
  auto reply = ControlCall(daemon::DaemonSocketPath(StoreForMount(args, mp)), "POST", "/umount",
                           {{"mountpoint", mp}});
  if (reply.ok()) return 0;
  // No daemon (killed?) or not its mount: detach whatever imgfs mount is left there.
  if (::umount2(mp.c_str(), MNT_DETACH) == 0) return 0;
  return reply.status();
}

Result<int> RunStats(const ArgList& argv) {
  ASSIGN_OR_RETURN(Args args, ParseArgs(argv, {"store"}, {"json"}));
  if (args.positional.size() != 1) return UsageError(kStatsUsage);
  char real[PATH_MAX];
  std::string mp = ::realpath(args.positional[0].c_str(), real) ? real : args.positional[0];
  ASSIGN_OR_RETURN(nlohmann::json all,
                   ControlCall(daemon::DaemonSocketPath(StoreForMount(args, mp)), "GET", "/stats"));
  for (const auto& m : all["mounts"]) {
    if (m.value("mountpoint", "") != mp) continue;
    nlohmann::json out = m;
    out["cache"] = all["cache"];
    if (args.Has("json")) {
      std::printf("%s\n", out.dump(2).c_str());
      return 0;
    }
    const auto& x = m["metrics"];
    auto u = [&](const char* k) { return x.value(k, uint64_t{0}); };
    std::printf("mount        %s\nimage        %s\n", mp.c_str(), m.value("image", "").c_str());
    std::printf("image size   %s of files, %s stored\n",
                HumanBytes(m.value("image_file_bytes", uint64_t{0})).c_str(),
                HumanBytes(m.value("image_stored_bytes", uint64_t{0})).c_str());
    std::printf("reads        %llu (%s served), %llu errors\n", (unsigned long long)u("reads"),
                HumanBytes(u("bytes_served")).c_str(), (unsigned long long)u("read_errors"));
    std::printf("chunks       %llu memory hits, %llu local hits, %llu misses\n",
                (unsigned long long)u("memory_hits"), (unsigned long long)u("cache_hits"),
                (unsigned long long)u("cache_misses"));
    std::printf("fetched      %s in %llu requests, %llu failed, %llu failed verification\n",
                HumanBytes(u("bytes_fetched")).c_str(), (unsigned long long)u("fetch_requests"),
                (unsigned long long)u("fetch_errors"), (unsigned long long)u("verify_failures"));
    std::string causes;
    if (x.contains("retries") && x.at("retries").is_object()) {
      const nlohmann::json& by_cause = x.at("retries");
      for (auto it = by_cause.begin(); it != by_cause.end(); ++it) {
        const uint64_t n = it->is_number_unsigned() ? it->get<uint64_t>() : 0;
        if (n > 0) causes += (causes.empty() ? " (" : ", ") + it.key() + " " + std::to_string(n);
      }
    }
    std::printf("retries      %llu%s\n", (unsigned long long)u("retries_total"),
                (causes.empty() ? causes : causes + ")").c_str());
    if (u("cache_write_failures") > 0)
      std::printf("not cached   %llu chunks the store could not take, served from memory\n",
                  (unsigned long long)u("cache_write_failures"));
    std::printf("prefetch     %llu of %llu chunks\n", (unsigned long long)u("prefetch_done"),
                (unsigned long long)u("prefetch_total"));
    const auto& c = all["cache"];
    std::printf("cache        %s cached, %llu evictions\n",
                HumanBytes(c.value("cached_bytes", uint64_t{0})).c_str(),
                (unsigned long long)c.value("evictions", uint64_t{0}));
    return 0;
  }
  return Status::NotFound(mp + " is not an imgfs mount of this store's daemon");
}

namespace {

// The command line of the supervised daemon: this one's flags, less the ready pipe (the
// supervisor passes it to the first daemon only) and with the configuration file named again.
std::vector<std::string> WorkerArgs(const Args& args) {
  std::vector<std::string> out = {"imgfs", "daemon"};
  for (const auto& [name, value] : args.values)
    if (name != "ready-fd") out.insert(out.end(), {"--" + name, value});
  for (const std::string& name : args.switches) out.push_back("--" + name);
  const Config& config = GlobalConfig();
  if (config.explicit_file()) out.insert(out.end(), {"--config", config.file()});
  return out;
}

// imgfs daemon --upgrade: the store's daemon hands its mounts to the binary installed now
// (POST /upgrade); waits until the new one answers, 30 s at most.
Result<int> UpgradeDaemon(const std::string& store) {
  const std::string socket = daemon::DaemonSocketPath(store);
  ASSIGN_OR_RETURN(nlohmann::json before, ControlCall(socket, "POST", "/upgrade"));
  const int64_t old_pid = before.value("pid", int64_t{0});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    auto stats = ControlCall(socket, "GET", "/stats");
    if (stats.ok() && stats->contains("daemon")) {
      const int64_t pid = (*stats)["daemon"].value("pid", int64_t{0});
      if (pid != old_pid && pid != 0) {
        std::printf("daemon %lld handed %zu mount(s) to daemon %lld\n",
                    static_cast<long long>(old_pid), (*stats)["mounts"].size(),
                    static_cast<long long>(pid));
        return 0;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::Unavailable("the daemon of " + store + " did not come back within 30 s; see " +
                             "its log");
}

}  // namespace

Result<int> RunDaemonCommand(const ArgList& argv) {
  ASSIGN_OR_RETURN(
      Args args,
      ParseArgs(argv,
                {"store", "cache-size", "memory-cache", "log-file", "log-max-size", "log-level",
                 "log-format", "metrics-address", "ready-fd", "supervised-by", "remote-timeout"},
                {"exit-when-idle", "no-supervise", "upgrade"}));
  if (!args.positional.empty()) return UsageError(kDaemonUsage);
  if (args.Has("upgrade")) return UpgradeDaemon(StorePath(args));
  const Config& config = GlobalConfig();
  ASSIGN_OR_RETURN(LogLevel level, ParseLogLevel(config.FlagOr(args, "log-level", "log.level")));
  ASSIGN_OR_RETURN(LogFormat format,
                   ParseLogFormat(config.FlagOr(args, "log-format", "log.format")));
  ASSIGN_OR_RETURN(uint64_t log_max, ParseSize(config.FlagOr(args, "log-max-size", "log.max_size"),
                                               "--log-max-size"));
  SetLogLevel(level);
  SetLogFormat(format);
  // Without a file the log goes to standard error (the journal under systemd).
  std::string log_file = config.FlagOr(args, "log-file", "log.file");
  if (!log_file.empty()) RETURN_IF_ERROR(SetLogRotation(log_file, log_max));
  daemon::DaemonOptions options;
  options.store_path = StorePath(args);
  options.metrics_address = config.FlagOr(args, "metrics-address", "metrics.address");
  ASSIGN_OR_RETURN(options.cache_size, ParseSize(config.FlagOr(args, "cache-size", "cache_size"),
                                                 "--cache-size", daemon::kMaxCacheSize));
  ASSIGN_OR_RETURN(options.memory_cache,
                   ParseSize(config.FlagOr(args, "memory-cache", "memory_cache"), "--memory-cache",
                             daemon::kMaxCacheSize));
  if (options.memory_cache < daemon::kMinMemoryCache)
    return Status::InvalidArgument("--memory-cache: at least 1M");
  ASSIGN_OR_RETURN(uint64_t remote_timeout,
                   ParseUint64(config.FlagOr(args, "remote-timeout", "remote_timeout"), 1,
                               daemon::kMaxRemoteTimeoutSeconds, "--remote-timeout"));
  options.remote_timeout = std::chrono::seconds(remote_timeout);
  options.exit_when_idle = args.Has("exit-when-idle");
  if (!args.Has("supervised-by") && !args.Has("no-supervise")) {
    // This process becomes the supervisor that keeps the FUSE connections open across a crash
    // of the daemon it starts (imgfs/daemon/supervisor.h).
    daemon::SupervisorOptions supervisor;
    supervisor.worker_args = WorkerArgs(args);
    ASSIGN_OR_RETURN(uint64_t restarts,
                     ParseUint64(config.Get("daemon.max_restarts"), 0, daemon::kMaxDaemonRestarts,
                                 "daemon.max_restarts"));
    supervisor.max_restarts = static_cast<unsigned>(restarts);
    if (args.Has("ready-fd")) {
      ASSIGN_OR_RETURN(uint64_t fd, ParseUint64(args.Get("ready-fd"), 3, INT_MAX, "--ready-fd"));
      supervisor.ready_fd = static_cast<int>(fd);
      ::fcntl(supervisor.ready_fd, F_SETFD, FD_CLOEXEC);
    }
    return daemon::RunSupervisor(std::move(supervisor));
  }
  if (args.Has("supervised-by")) {
    ASSIGN_OR_RETURN(uint64_t fd,
                     ParseUint64(args.Get("supervised-by"), 3, INT_MAX, "--supervised-by"));
    options.supervisor_fd = static_cast<int>(fd);
  }
  if (args.Has("ready-fd")) {
    // `imgfs mount` waits on this pipe: one byte once the socket listens. Taken out of the
    // process's descriptors so nothing the daemon starts inherits it.
    ASSIGN_OR_RETURN(uint64_t fd, ParseUint64(args.Get("ready-fd"), 3, INT_MAX, "--ready-fd"));
    auto ready = std::make_shared<UniqueFd>(static_cast<int>(fd));
    ::fcntl(ready->get(), F_SETFD, FD_CLOEXEC);
    options.on_ready = [ready](const Result<Digest>&) {
      (void)!::write(ready->get(), "1", 1);
      ready->Reset();
    };
  }
  RETURN_IF_ERROR(daemon::RunDaemon(options));
  return 0;
}

}  // namespace imgfs::cli
