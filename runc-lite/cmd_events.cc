// runc-lite events [--stats] [--interval D] <container-id>: cgroup statistics as JSON, once with
// --stats, else every interval until the container stops (runc's command, without OOM events).
#include <time.h>

#include <nlohmann/json.hpp>

#include "core/numbers.h"
#include "runc-lite/cgroup_stats.h"
#include "runc-lite/command.h"
#include "runc-lite/container.h"

namespace imgfs::runc {
namespace {

void Declare(FlagSet& f) {
  f.Bool("stats", {}, "print the container's statistics once and exit");
  f.String("interval", "5", {}, "seconds between statistics (1..3600)");
}

Result<std::string> StatsLine(const StateStore& store, const std::string& id) {
  ASSIGN_OR_RETURN(ContainerState state, LoadContainer(store, id));
  if (LiveStatus(state, store) == ContainerStatus::kStopped)
    return Status::NotFound("container " + id + " is not running");
  nlohmann::json event = {{"type", "stats"}, {"id", id}, {"data", CgroupStats(state)}};
  return event.dump() + "\n";
}

Result<int> Events(const CommandContext& c) {
  const std::string& id = c.args[0];
  ASSIGN_OR_RETURN(uint64_t interval, c.flags.GetUint64("interval", 1, 3600));
  ASSIGN_OR_RETURN(std::string line, StatsLine(c.store, id));
  PrintOut(line);
  if (c.flags.GetBool("stats")) return 0;
  for (;;) {
    timespec ts{static_cast<time_t>(interval), 0};
    while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    Result<std::string> next = StatsLine(c.store, id);
    if (!next.ok()) return 0;  // the container is gone: the stream ends
    PrintOut(*next);
  }
}

}  // namespace

const Command kEventsCommand = {"events",
                                "events [--stats] [--interval SECONDS] <container-id>",
                                "cgroup statistics of a container, as JSON",
                                1,
                                Declare,
                                Events};

}  // namespace imgfs::runc
