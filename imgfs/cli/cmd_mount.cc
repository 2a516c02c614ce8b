// imgfs mount | umount | stats | daemon
#include "imgfs/cli/commands.h"

namespace imgfs {

Result<int> RunMount(const ArgList& argv) { return Status::Unimplemented("mount is not implemented yet"); }
Result<int> RunUmount(const ArgList& argv) { return Status::Unimplemented("umount is not implemented yet"); }
Result<int> RunStats(const ArgList& argv) { return Status::Unimplemented("stats is not implemented yet"); }
Result<int> RunDaemon(const ArgList& argv) { return Status::Unimplemented("daemon is not implemented yet"); }

}  // namespace imgfs
