// runc-lite list [--format table|json] [--quiet]
#include <algorithm>
#include <nlohmann/json.hpp>

#include "runc-lite/command.h"
#include "runc-lite/container.h"

namespace imgfs::runc {
namespace {

void Declare(FlagSet& f) {
  f.String("format", "table", {"f"}, "table or json");
  f.Bool("quiet", {"q"}, "print the ids only");
}

// runc aligns with tabwriter(minwidth 12, padding 3).
std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(rows[0].size(), 12);
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size() + 3);
  std::string table;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i)
      table +=
          i + 1 < row.size() ? row[i] + std::string(width[i] - row[i].size(), ' ') : row[i] + "\n";
  }
  return table;
}

Result<int> List(const CommandContext& c) {
  const std::string& format = c.flags.GetString("format");
  if (format != "table" && format != "json")
    return Status::InvalidArgument("invalid format option: " + format);
  ASSIGN_OR_RETURN(std::vector<std::string> ids, c.store.List());
  const bool quiet = c.flags.GetBool("quiet");
  nlohmann::json arr = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows = {
      {"ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"}};
  for (const std::string& id : ids) {
    Result<ContainerState> s = c.store.Load(id);
    if (!s.ok()) continue;
    if (quiet) {
      PrintOut(id + "\n");
      continue;
    }
    ContainerStatus st = LiveStatus(*s, c.store);
    arr.push_back(nlohmann::json::parse(OciStateJson(*s, st)));
    int pid = st == ContainerStatus::kStopped ? 0 : s->pid;
    rows.push_back({id, std::to_string(pid), StatusName(st), s->bundle, s->created, "root"});
  }
  if (quiet) return 0;
  PrintOut(format == "json" ? arr.dump() + "\n" : Table(rows));
  return 0;
}

}  // namespace

const Command kListCommand = {
    "list", "list [--format table|json] [--quiet]", "list the containers under --root", 0, Declare,
    List};

}  // namespace imgfs::runc
