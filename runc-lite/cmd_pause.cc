// runc-lite pause <container-id>
#include "runc-lite/command.h"
#include "runc-lite/container.h"

namespace imgfs::runc {
namespace {

Result<int> Pause(const CommandContext& c) {
  RETURN_IF_ERROR(PauseContainer(c.store, c.args[0]));
  return 0;
}

}  // namespace

const Command kPauseCommand = {
    "pause", "pause <container-id>", "freeze every process of the container",
    1,       [](FlagSet&) {},        Pause};

}  // namespace imgfs::runc
