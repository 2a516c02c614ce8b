// The dispatcher: global flags, then one of the commands of command.h.
#include "runc-lite/commands.h"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <exception>

#include "core/fd.h"
#include "core/flags.h"
#include "core/version.h"
#include "runc-lite/command.h"
#include "runc-lite/runtime_log.h"

namespace imgfs::runc {

void PrintOut(const std::string& text) { (void)WriteFull(STDOUT_FILENO, text); }

Result<std::string> AbsolutePath(const std::string& p) {
  if (!p.empty() && p[0] == '/') return p;
  char cwd[PATH_MAX];
  if (!::getcwd(cwd, sizeof cwd)) return Status::FromErrno(errno, "getcwd");
  return p.empty() || p == "." ? std::string(cwd) : std::string(cwd) + "/" + p;
}

namespace {

const Command* const kCommands[] = {
    &kCreateCommand, &kStartCommand,  &kRunCommand,      &kExecCommand, &kKillCommand,
    &kDeleteCommand, &kStateCommand,  &kPsCommand,       &kListCommand, &kPauseCommand,
    &kResumeCommand, &kUpdateCommand, &kFeaturesCommand, &kSpecCommand, &kEventsCommand};

void DeclareGlobalFlags(FlagSet& f) {
  f.String("root", "/run/runc-lite", {}, "directory for the containers' state");
  f.String("log", "", {}, "also append errors (and --debug lines) to FILE");
  f.String("log-format", "text", {}, "text or json");
  f.Bool("debug", {}, "log debug lines");
  f.Bool("systemd-cgroup", {}, "refused: runc-lite drives cgroupfs directly");
  f.String("rootless", "auto", {}, "accepted for runc compatibility");
  f.String("criu", "", {}, "accepted for runc compatibility");
  f.Bool("version", {"v"}, "print the version");
}

std::string GlobalUsage(const FlagSet& global) {
  std::string out = global.Usage() + "commands:\n";
  for (const Command* c : kCommands)
    out += "  " + std::string(c->name) +
           std::string(10 - std::min<size_t>(9, strlen(c->name)), ' ') + c->summary + "\n";
  out += "Run 'runc-lite COMMAND --help' for a command's options.\n";
  return out;
}

int Fail(const Status& s) {
  LogError(s.message());
  return 1;
}

// An example for each command, after its options in `runc-lite COMMAND --help` (and so in the
// man page made from the help).
std::string CommandExample(const std::string& name) {
  static const std::pair<const char*, const char*> kExamples[] = {
      {"create", "runc-lite create --bundle /srv/bundles/web web"},
      {"start", "runc-lite start web"},
      {"run", "runc-lite run --bundle /srv/bundles/job job   # foreground; -d to detach"},
      {"exec", "runc-lite exec -t --user app:staff --env TERM=xterm web sh"},
      {"kill", "runc-lite kill web SIGTERM"},
      {"delete", "runc-lite delete --force web"},
      {"state", "runc-lite state web | jq .status"},
      {"ps", "runc-lite ps web"},
      {"list", "runc-lite --root /run/containerd/runc/k8s.io list"},
      {"pause", "runc-lite pause web"},
      {"resume", "runc-lite resume web"},
      {"update", "runc-lite update --memory 512M --pids-limit 100 web"},
      {"features", "runc-lite features | jq .linux.namespaces"},
      {"spec", "runc-lite spec --bundle /srv/bundles/web"},
      {"events", "runc-lite events --stats web"},
  };
  for (const auto& [command, text] : kExamples)
    if (name == command) return std::string("example:\n  ") + text + "\n";
  return "";
}

int Dispatch(const std::vector<std::string>& args) {
  FlagSet global("runc-lite [global options] COMMAND [command options] [arguments...]");
  DeclareGlobalFlags(global);
  Result<std::vector<std::string>> rest = global.Parse(args, 1);
  if (!rest.ok()) return Fail(rest.status());
  Status log = ConfigureLog(global.GetString("log"), global.GetString("log-format"),
                            global.GetBool("debug"));
  if (!log.ok()) return Fail(log);
  if (global.GetBool("version")) {
    PrintOut(std::string("runc-lite version ") + kVersion + "\ncommit: " + kGitCommit +
             "\nspec: 1.2.0\n");
    return 0;
  }
  if (global.help_requested() || (!rest->empty() && (*rest)[0] == "help" && rest->size() == 1)) {
    PrintOut(GlobalUsage(global));
    return 0;
  }
  if (rest->empty()) {
    (void)WriteFull(STDERR_FILENO, GlobalUsage(global));
    return 1;
  }
  if (global.GetBool("systemd-cgroup")) {
    return Fail(Status::InvalidArgument(
        "--systemd-cgroup is not supported: runc-lite drives cgroupfs directly; "
        "configure the cgroupfs driver (SystemdCgroup = false, --cgroup-manager cgroupfs)"));
  }
  const std::string& name = (*rest)[0];
  const Command* command = nullptr;
  for (const Command* c : kCommands)
    if (name == c->name) command = c;
  if (command == nullptr) return Fail(Status::InvalidArgument("No help topic for '" + name + "'"));

  FlagSet flags(std::string("runc-lite ") + command->usage);
  command->declare(flags);
  Result<std::vector<std::string>> pos = flags.Parse(*rest, 1);
  if (!pos.ok()) return Fail(pos.status());
  if (flags.help_requested()) {
    PrintOut(std::string(command->summary) + "\n" + flags.Usage() + CommandExample(command->name));
    return 0;
  }
  if (pos->size() < command->min_args)
    return Fail(Status::InvalidArgument(std::string("usage: runc-lite ") + command->usage));
  StateStore store(global.GetString("root"));
  Result<int> r = command->run(CommandContext{store, flags, *pos});
  if (!r.ok()) return Fail(r.status());
  return *r;
}

}  // namespace

int RunCommandLine(const std::vector<std::string>& args) {
  // No exception leaves the runtime: whatever escapes a library is one error line and exit 1.
  try {
    return Dispatch(args);
  } catch (const std::exception& e) {
    LogError(std::string("internal error: ") + e.what());
  } catch (...) {
    LogError("internal error: unknown exception");
  }
  return 1;
}

}  // namespace imgfs::runc
