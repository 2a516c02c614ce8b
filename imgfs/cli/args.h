// Command-line parsing shared by the imgfs subcommands: positional arguments and --flag VALUE /
// --flag=VALUE options, checked against the flags a subcommand declares. A thin view over the
// project's one flag parser (core/flags.h, GNU syntax, options anywhere, "--" ends them).
// Thread-compatible: values; the CLI parses on its main thread.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"

namespace imgfs::cli {

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;  // --name VALUE
  std::set<std::string> switches;             // --name

  bool Has(const std::string& name) const { return switches.count(name) || values.count(name); }
  std::string Get(const std::string& name, const std::string& fallback = "") const {
    auto it = values.find(name);
    return it == values.end() ? fallback : it->second;
  }
};

// `with_value` lists options taking a value, `switches` those that do not (names without "--").
// --help / -h is an InvalidArgument listing the command's options (never runs the command).
Result<Args> ParseArgs(const std::vector<std::string>& argv,
                       const std::set<std::string>& with_value,
                       const std::set<std::string>& switches);

// Formats a byte count as "12.3 MB" (powers of 1000, as `df -H`).
std::string HumanBytes(uint64_t bytes);

}  // namespace imgfs::cli
