// runc-lite run [command options] <container-id>: create + start (+ wait + delete).
#include "runc-lite/command.h"
#include "runc-lite/container.h"

namespace imgfs::runc {
namespace {

void Declare(FlagSet& f) {
  DeclareCreateFlags(f);
  f.Bool("detach", {"d"}, "detach from the container's process");
  f.Bool("keep", {}, "accepted for runc compatibility");
  f.Bool("no-subreaper", {}, "accepted for runc compatibility");
}

Result<int> Run(const CommandContext& c) {
  ASSIGN_OR_RETURN(CreateOptions o, CreateOptionsFromFlags(c));
  return RunContainer(c.store, o, c.flags.GetBool("detach"));
}

}  // namespace

const Command kRunCommand = {
    "run", "run [command options] <container-id>", "create and run a container", 1, Declare, Run};

}  // namespace imgfs::runc
