// What main does around a subcommand, shared by imgfs and imgfs-snapshotter (the snapshotter's
// own program) so that both take --help, --config, $IMGFS_* and the configuration file the same
// way and report an error alike. Thread-safety: for main's thread, before any other starts.
#pragma once

#include <string_view>

#include "imgfs/cli/commands.h"

namespace imgfs::cli {

// When ARGS asks for help (--help or -h before any "--"), prints "usage: USAGE" and COMMAND's
// example (examples.h) on standard output and returns true.
bool PrintHelpIfAsked(std::string_view command, const char* usage, const ArgList& args);

// Takes --config FILE / --config=FILE out of ARGS (before any "--"), loads the configuration
// (Config::Load) and applies what is process-wide: the log level and format, the registry
// credentials file; then installs it as GlobalConfig().
Status LoadConfig(ArgList& args);

// Where RunCommand finds the configuration.
enum class ConfigSource {
  kArgs,         // --config FILE in ARGS (taken out of them), as LoadConfig
  kEnvironment,  // only $IMGFS_CONFIG or the default file: ARGS hold another program's (imgfs run)
  kNone,         // none loaded: the command runs a program that loads it (imgfs snapshotter)
};

// Runs RUN(ARGS) as the process's command COMMAND, the configuration loaded first from SOURCE,
// and returns the exit code. An error is printed in one line, "imgfs COMMAND: MESSAGE", and
// exits 2 when the arguments or the configuration are wrong, else 1.
int RunCommand(std::string_view command, Result<int> (*run)(const ArgList&), ArgList args,
               ConfigSource source);

}  // namespace imgfs::cli
