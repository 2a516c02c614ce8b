// /proc/driver/nvidia/params as a container must see it: with ModifyDeviceFiles: 0, so the CUDA
// user-space libraries never try to create or chmod /dev/nvidia* inside the container (the
// runtime made the nodes; the container may not have the rights, and must not get them).
// Thread-safety: stateless functions; safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace imgfs::gpu {

// The host's params text with the ModifyDeviceFiles line set to 0 (added if missing).
std::string ContainerDriverParams(std::string_view host_params);

// Binds a read-only copy of the driver's params, rewritten as above, over
// ROOTFS/proc/driver/nvidia/params. REQUIRES: the container's mount namespace with its /proc
// mounted (the createContainer stage). Returns false, changing nothing, when ROOTFS/proc is not
// procfs or the driver exposes no params file. The copy is written under `scratch_dir` and
// unlinked once mounted.
Result<bool> MaskDriverParams(const std::string& rootfs, const std::string& scratch_dir);

}  // namespace imgfs::gpu
