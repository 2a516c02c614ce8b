// imgfs ps | stop | logs: the containers of `imgfs run` (records in STORE/containers, see
// containers.h).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/fd.h"
#include "core/flags.h"
#include "imgfs/cli/commands.h"
#include "imgfs/cli/config.h"
#include "imgfs/cli/containers.h"
#include "imgfs/cli/usage.h"

namespace imgfs::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Parses ARGV with FLAGS, adding --store and --config (main loaded the configuration and answers
// --help). Returns the positional arguments.
Result<std::vector<std::string>> Parse(FlagSet& flags, const ArgList& argv) {
  flags.String("store");
  flags.String("config");
  return flags.Parse(argv);
}

std::string StoreOf(const FlagSet& flags) {
  std::string store = flags.IsSet("store") ? flags.GetString("store") : GlobalConfig().Get("store");
  char real[PATH_MAX];
  return ::realpath(store.c_str(), real) ? std::string(real) : store;
}

Result<ContainerRecord> Find(const std::string& store, const std::string& id) {
  ASSIGN_OR_RETURN(std::string dir, ContainerDir(store, id));
  Result<ContainerRecord> r = ReadRecord(dir);
  if (!r.ok() && r.status().code() == Code::kNotFound)
    return Status::NotFound("no container " + id + " in " + store);
  return r;
}

std::string Ago(int64_t then) {
  int64_t s = std::max<int64_t>(0, static_cast<int64_t>(::time(nullptr)) - then);
  if (s < 120) return std::to_string(s) + " s ago";
  if (s < 7200) return std::to_string(s / 60) + " min ago";
  return std::to_string(s / 3600) + " h ago";
}

std::string Joined(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

// Waits until PID (started at START) is gone, or TIMEOUT passed. True when it is gone.
bool WaitGone(pid_t pid, uint64_t start, std::chrono::milliseconds timeout) {
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd.valid() || ProcessStartTime(pid) != start) return true;
  pollfd p = {pidfd.get(), POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
}

}  // namespace

Result<int> RunPs(const ArgList& argv) {
  FlagSet flags("imgfs ps [--store DIR] [--json] [--prune]",
                {FlagSet::Syntax::kGnu, /*interleaved=*/true});
  flags.Bool("json");
  flags.Bool("prune");
  flags.Bool("all", {"a"});  // accepted: exited detached containers are always listed
  ASSIGN_OR_RETURN(std::vector<std::string> positional, Parse(flags, argv));
  if (!positional.empty()) return UsageError(kPsUsage);
  const std::string store = StoreOf(flags);
  std::vector<ContainerRecord> all = ListContainers(store);
  if (flags.GetBool("prune")) {
    for (const ContainerRecord& r : all) {
      if (r.LiveStatus() == "running") continue;
      RETURN_IF_ERROR(RemoveContainer(store, r));
      std::printf("%s\n", r.id.c_str());
    }
    return 0;
  }
  if (flags.GetBool("json")) {
    nlohmann::json out = nlohmann::json::array();
    for (const ContainerRecord& r : all) {
      out.push_back({{"id", r.id},
                     {"image", r.image},
                     {"command", r.command},
                     {"created", r.created},
                     {"status", r.LiveStatus()},
                     {"exit_code", r.exit_code},
                     {"detached", r.detached},
                     {"monitor_pid", r.monitor_pid}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("%-14s %-20s %-24s %-12s %s\n", "CONTAINER", "IMAGE", "COMMAND", "CREATED", "STATUS");
  for (const ContainerRecord& r : all) {
    std::string status = r.LiveStatus();
    if (status == "exited")
      status = "exited (" + std::to_string(r.exit_code) + ") " + Ago(r.finished);
    else if (status == "gone")
      status = "gone (its monitor died; `imgfs ps --prune` removes it)";
    std::string command = r.command.empty() ? "(image's)" : Joined(r.command);
    if (command.size() > 24) command = command.substr(0, 21) + "...";
    std::string image = r.image.size() > 20 ? r.image.substr(0, 17) + "..." : r.image;
    std::printf("%-14s %-20s %-24s %-12s %s\n", r.id.c_str(), image.c_str(), command.c_str(),
                Ago(r.created).c_str(), status.c_str());
  }
  return 0;
}

Result<int> RunStop(const ArgList& argv) {
  FlagSet flags("imgfs stop [--store DIR] [-t SECONDS] ID...",
                {FlagSet::Syntax::kGnu, /*interleaved=*/true});
  flags.String("time", "10", {"t"});
  ASSIGN_OR_RETURN(std::vector<std::string> positional, Parse(flags, argv));
  const std::vector<std::string>& ids = positional;
  if (ids.empty()) return UsageError(kStopUsage);
  ASSIGN_OR_RETURN(uint64_t seconds, flags.GetUint64("time", 0, 3600));
  const std::string store = StoreOf(flags);
  for (const std::string& id : ids) {
    ASSIGN_OR_RETURN(ContainerRecord r, Find(store, id));
    if (r.LiveStatus() != "running") {
      std::printf("%s\n", id.c_str());  // already stopped: as podman, not an error
      continue;
    }
    // SIGTERM to the monitor, which passes it on to the container; after SECONDS the runtime
    // kills it (as the monitor's own stop timeout would). The PID is the monitor's only while
    // its start time matches: nothing else is ever signalled.
    if (seconds > 0 && ProcessStartTime(r.monitor_pid) == r.monitor_start)
      ::kill(r.monitor_pid, SIGTERM);
    if (seconds == 0 || !WaitGone(r.monitor_pid, r.monitor_start, std::chrono::seconds(seconds))) {
      (void)RuntimeCommand(store, r, {"kill", r.id, "KILL"});
      if (!WaitGone(r.monitor_pid, r.monitor_start, std::chrono::seconds(30)))
        return Status::Unavailable("container " + id + " did not stop within " +
                                   std::to_string(seconds + 30) + " s");
    }
    std::printf("%s\n", id.c_str());
  }
  return 0;
}

Result<int> RunLogs(const ArgList& argv) {
  FlagSet flags("imgfs logs [--store DIR] [-f] ID", {FlagSet::Syntax::kGnu, /*interleaved=*/true});
  flags.Bool("follow", {"f"});
  ASSIGN_OR_RETURN(std::vector<std::string> positional, Parse(flags, argv));
  const std::vector<std::string>& ids = positional;
  if (ids.size() != 1) return UsageError(kLogsUsage);
  const std::string store = StoreOf(flags);
  ASSIGN_OR_RETURN(ContainerRecord r, Find(store, ids[0]));
  if (!r.detached)
    return Status::InvalidArgument("container " + r.id +
                                   " runs in the foreground: its output goes to the terminal "
                                   "of its imgfs run");
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(store + "/containers/" + r.id + "/log", O_RDONLY));
  char buf[65536];
  for (;;) {
    ssize_t n = RetryOnEintr([&] { return ::read(fd.get(), buf, sizeof buf); });
    if (n < 0) return Status::FromErrno(errno, "read the log of " + r.id);
    if (n > 0) {
      RETURN_IF_ERROR(WriteFull(STDOUT_FILENO, std::string_view(buf, static_cast<size_t>(n))));
      continue;
    }
    // At the end: done, unless -f and the container still runs (then look again shortly; the
    // last read after its monitor is gone picks up what it wrote last).
    if (!flags.GetBool("follow")) break;
    bool running = ProcessStartTime(r.monitor_pid) == r.monitor_start;
    if (!running) {
      while ((n = RetryOnEintr([&] { return ::read(fd.get(), buf, sizeof buf); })) > 0)
        RETURN_IF_ERROR(WriteFull(STDOUT_FILENO, std::string_view(buf, static_cast<size_t>(n))));
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return 0;
}

}  // namespace imgfs::cli
