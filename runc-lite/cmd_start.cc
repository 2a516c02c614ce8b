// runc-lite start <container-id>
#include "runc-lite/command.h"
#include "runc-lite/container.h"

namespace imgfs::runc {
namespace {

Result<int> Start(const CommandContext& c) {
  RETURN_IF_ERROR(StartContainer(c.store, c.args[0]));
  return 0;
}

}  // namespace

const Command kStartCommand = {"start", "start <container-id>", "start a created container",
                               1,       [](FlagSet&) {},        Start};

}  // namespace imgfs::runc
