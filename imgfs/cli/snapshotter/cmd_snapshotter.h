// The `imgfs snapshotter` command proper, linked into imgfs-snapshotter only (it needs gRPC):
// `imgfs snapshotter [--address PATH] ...` serves containerd's snapshots API until SIGTERM or
// SIGINT; `imgfs snapshotter unpack IMAGE ...` registers an image's layers with containerd. Flags
// as kSnapshotterUsage says; the configuration must be loaded (RunCommand) before.
#pragma once

#include "imgfs/cli/commands.h"

namespace imgfs::cli {

Result<int> RunSnapshotter(const ArgList& argv);

}  // namespace imgfs::cli
