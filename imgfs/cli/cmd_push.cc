// imgfs push IMAGE DEST
#include "imgfs/cli/commands.h"

namespace imgfs {

Result<int> RunPush(const ArgList& argv) { return Status::Unimplemented("push is not implemented yet"); }

}  // namespace imgfs
