// runc-lite state <container-id>
#include "runc-lite/command.h"
#include "runc-lite/container.h"

namespace imgfs::runc {
namespace {

Result<int> State(const CommandContext& c) {
  ASSIGN_OR_RETURN(std::string json, ContainerStateJson(c.store, c.args[0]));
  PrintOut(json + "\n");
  return 0;
}

}  // namespace

const Command kStateCommand = {"state", "state <container-id>", "print the container's OCI state",
                               1,       [](FlagSet&) {},        State};

}  // namespace imgfs::runc
