// One runc-lite subcommand: its usage line, its flags and its action. Each lives in its own
// cmd_<name>.cc, parses only flags and arguments and calls the library (container.h), like crun's
// src/<name>.c. commands.cc dispatches to them. Single-threaded, as the CLI is.
#pragma once

#include <string>
#include <vector>

#include "core/flags.h"
#include "core/status.h"
#include "runc-lite/plan_builder.h"
#include "runc-lite/state_store.h"

namespace imgfs::runc {

// What a command gets: the state store (--root), its parsed flags and positional arguments.
struct CommandContext {
  const StateStore& store;
  const FlagSet& flags;
  const std::vector<std::string>& args;
};

struct Command {
  const char* name;
  const char* usage;    // after "runc-lite ": "kill [command options] <container-id> [signal]"
  const char* summary;  // one line for the command list
  size_t min_args;      // positional arguments required (else the usage is the error)
  void (*declare)(FlagSet& flags);
  // Returns the exit status (0, or the container's own for run/exec in the foreground).
  Result<int> (*run)(const CommandContext& ctx);
};

extern const Command kCreateCommand, kRunCommand, kStartCommand, kKillCommand, kDeleteCommand,
    kStateCommand, kPauseCommand, kResumeCommand, kPsCommand, kListCommand, kExecCommand,
    kUpdateCommand, kFeaturesCommand, kSpecCommand, kEventsCommand;

// Helpers shared by the commands.
void PrintOut(const std::string& text);
// P made absolute against the working directory.
Result<std::string> AbsolutePath(const std::string& p);
// The flags create and run share, and the CreateOptions they give.
void DeclareCreateFlags(FlagSet& flags);
Result<CreateOptions> CreateOptionsFromFlags(const CommandContext& ctx);
// Upper bound of --preserve-fds (fds 3..3+N-1 are passed to the container).
inline constexpr uint64_t kMaxPreserveFds = 65536;

}  // namespace imgfs::runc
