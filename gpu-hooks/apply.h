// Applying CDI edits to an OCI runtime config (config.json as JSON). Thread-safe (pure).
#pragma once

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "gpu-hooks/cdi.h"

namespace imgfs::gpu {

// Adds EDITS to OCI_CONFIG:
//   process.env            each KEY=VALUE set (an existing KEY is replaced);
//   linux.devices          one entry per node (same path replaced); a node without major/minor
//                          gets them from stat() of its hostPath (or path);
//   linux.resources.devices an allow rule per node (type, major, minor, access = permissions or
//                          "rwm"), so the rules survive a runtime rewriting the cgroup;
//   mounts                 bind mounts (options from the edit, else ro,nosuid,nodev,bind);
//   hooks.<hookName>       appended, each with env exactly {PATH=/usr/sbin:/usr/bin:/sbin:/bin}
//                          whatever the edit said: a hook runs privileged and must not inherit
//                          LD_PRELOAD or the like (NVIDIAScape).
// On error OCI_CONFIG may be partly modified; apply to a copy to keep it.
Status ApplyToSpec(nlohmann::json& oci_config, const CdiEdits& edits);

}  // namespace imgfs::gpu
