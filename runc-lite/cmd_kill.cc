// runc-lite kill [--all] <container-id> [signal]
#include "runc-lite/command.h"
#include "runc-lite/container.h"

namespace imgfs::runc {
namespace {

void Declare(FlagSet& f) {
  f.Bool("all", {"a"}, "send the signal to every process in the container's cgroup");
}

Result<int> Kill(const CommandContext& c) {
  ASSIGN_OR_RETURN(int sig, ParseSignal(c.args.size() > 1 ? c.args[1] : "SIGTERM"));
  RETURN_IF_ERROR(KillContainer(c.store, c.args[0], sig, c.flags.GetBool("all")));
  return 0;
}

}  // namespace

const Command kKillCommand = {"kill",
                              "kill [--all] <container-id> [signal]",
                              "send a signal (default SIGTERM) to the container's init",
                              1,
                              Declare,
                              Kill};

}  // namespace imgfs::runc
