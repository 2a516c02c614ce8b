#include "imgfs/cli/args.h"

#include <cstdio>

#include "core/flags.h"

namespace imgfs::cli {

Result<Args> ParseArgs(const std::vector<std::string>& argv,
                       const std::set<std::string>& with_value,
                       const std::set<std::string>& switches) {
  FlagSet flags("", {FlagSet::Syntax::kGnu, /*interleaved=*/true});
  for (const std::string& name : with_value) flags.String(name);
  for (const std::string& name : switches) flags.Bool(name);
  ASSIGN_OR_RETURN(std::vector<std::string> positional, flags.Parse(argv));
  if (flags.help_requested()) {
    // The command's own usage lives in its error messages and `imgfs --help`; list its options.
    std::string text = "options:";
    for (const std::string& name : with_value) text += " [--" + name + " VALUE]";
    for (const std::string& name : switches) text += " [--" + name + "]";
    return Status::InvalidArgument(text + " (see imgfs --help)");
  }
  Args args;
  args.positional = std::move(positional);
  for (const std::string& name : with_value)
    if (flags.IsSet(name)) args.values[name] = flags.GetString(name);
  for (const std::string& name : switches)
    if (flags.GetBool(name)) args.switches.insert(name);
  return args;
}

std::string HumanBytes(uint64_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000 && u < 4) v /= 1000, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace imgfs::cli
