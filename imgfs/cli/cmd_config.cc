// imgfs config show
#include <cstdio>
#include <nlohmann/json.hpp>

#include "imgfs/cli/args.h"
#include "imgfs/cli/commands.h"
#include "imgfs/cli/config.h"
#include "imgfs/cli/usage.h"

namespace imgfs::cli {

Result<int> RunConfig(const ArgList& argv) {
  ASSIGN_OR_RETURN(Args args, ParseArgs(argv, {}, {"json"}));
  if (args.positional.size() != 1 || args.positional[0] != "show") return UsageError(kConfigUsage);
  const Config& config = GlobalConfig();
  if (args.Has("json")) {
    nlohmann::ordered_json j = {{"file", config.file()}, {"settings", nlohmann::json::array()}};
    for (const Setting& s : config.settings())
      j["settings"].push_back({{"key", s.key}, {"value", s.value}, {"source", s.source}});
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("# file: %s\n", config.file().empty() ? "(none)" : config.file().c_str());
  for (const Setting& s : config.settings()) {
    std::string line = s.key + " = " + nlohmann::json(s.value).dump();
    std::printf("%-48s # %s\n", line.c_str(), s.source.c_str());
  }
  return 0;
}

}  // namespace imgfs::cli
