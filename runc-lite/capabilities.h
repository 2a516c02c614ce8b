// Capability names ("CAP_SYS_ADMIN") to kernel bit masks, via libcap (the one file that
// includes it). Thread-safe (pure).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace imgfs::runc {

// The mask of NAMES; an unknown name is an InvalidArgument error. Names the running kernel does
// not know (newer than it) are skipped, as runc does.
Result<uint64_t> CapabilityMask(const std::vector<std::string>& names);
// Every capability the running kernel knows, as "CAP_..." names.
std::vector<std::string> KnownCapabilities();

}  // namespace imgfs::runc
