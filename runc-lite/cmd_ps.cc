// runc-lite ps [--format table|json] <container-id> [ps options]
#include <nlohmann/json.hpp>

#include "runc-lite/command.h"
#include "runc-lite/container.h"

namespace imgfs::runc {
namespace {

void Declare(FlagSet& f) { f.String("format", "table", {"f"}, "table or json"); }

Result<int> Ps(const CommandContext& c) {
  const std::string& format = c.flags.GetString("format");
  if (format != "table" && format != "json")
    return Status::InvalidArgument("invalid format option: " + format);
  if (format == "json") {
    ASSIGN_OR_RETURN(std::vector<int> pids, ContainerPids(c.store, c.args[0]));
    PrintOut(nlohmann::json(pids).dump() + "\n");
    return 0;
  }
  ASSIGN_OR_RETURN(std::string table,
                   ContainerPsTable(c.store, c.args[0], {c.args.begin() + 1, c.args.end()}));
  PrintOut(table);
  return 0;
}

}  // namespace

const Command kPsCommand = {"ps",
                            "ps [--format table|json] <container-id> [ps options]",
                            "list the container's processes",
                            1,
                            Declare,
                            Ps};

}  // namespace imgfs::runc
