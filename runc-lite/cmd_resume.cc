// runc-lite resume <container-id>
#include "runc-lite/command.h"
#include "runc-lite/container.h"

namespace imgfs::runc {
namespace {

Result<int> Resume(const CommandContext& c) {
  RETURN_IF_ERROR(ResumeContainer(c.store, c.args[0]));
  return 0;
}

}  // namespace

const Command kResumeCommand = {"resume", "resume <container-id>", "thaw a paused container",
                                1,        [](FlagSet&) {},         Resume};

}  // namespace imgfs::runc
