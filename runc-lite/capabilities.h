// Capability names ("CAP_SYS_ADMIN") to kernel bit masks, via libcap (the one file that
// includes it). Thread-safe (pure).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace imgfs::runc {

// The mask of NAMES. A name that libcap or the running kernel does not know (a typo, or a
// capability newer than either) is left out and appended to SKIPPED (when not null), so the
// caller can warn about it: runc and crun skip such names with a warning too.
uint64_t CapabilityMask(const std::vector<std::string>& names, std::vector<std::string>* skipped);
// "CAP_SYS_ADMIN" for bit 21; "CAP_<n>" for a bit libcap cannot name.
std::string CapabilityName(int cap);
// Every capability the running kernel knows, as "CAP_..." names.
std::vector<std::string> KnownCapabilities();

}  // namespace imgfs::runc
