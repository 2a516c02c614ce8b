// The mount option words of config.json (mounts[].options, linux.rootfsPropagation) and the
// MS_* flags they stand for: the one table both the spec validation and the plan builder use.
// Constant data; thread-safe.
#pragma once

#include <optional>
#include <string>

namespace imgfs::runc {

// A flag option: "ro" sets MS_RDONLY, "rw" clears it.
struct MountFlagOption {
  bool clear;
  unsigned long flag;
};
// The MS_* flag option named NAME ("ro", "nosuid", "rbind", ...), or nullptr.
const MountFlagOption* FindMountFlagOption(const std::string& name);

// The propagation flags of NAME ("rslave" -> MS_SLAVE | MS_REC), or nullopt if NAME is not
// one of private, shared, slave, unbindable and their r* recursive forms.
std::optional<unsigned long> PropagationFlags(const std::string& name);

}  // namespace imgfs::runc
