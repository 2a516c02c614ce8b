// runc-lite delete [--force] <container-id>...
#include "runc-lite/command.h"
#include "runc-lite/container.h"

namespace imgfs::runc {
namespace {

void Declare(FlagSet& f) {
  f.Bool("force", {"f"}, "kill a running container first; an unknown id is not an error");
}

Result<int> Delete(const CommandContext& c) {
  for (const std::string& id : c.args)
    RETURN_IF_ERROR(DeleteContainer(c.store, id, c.flags.GetBool("force")));
  return 0;
}

}  // namespace

const Command kDeleteCommand = {"delete",
                                "delete [--force] <container-id>...",
                                "delete a container and what it holds",
                                1,
                                Declare,
                                Delete};

}  // namespace imgfs::runc
