// The one call a runtime makes: read the GPU request from an OCI config, resolve it against the
// CDI specs under ROOT and apply the edits to the config. Thread-safe (reads files, pure
// otherwise).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"

namespace imgfs::gpu {

struct InjectResult {
  bool requested = false;  // false: the config asks for no GPU; it was not touched
  size_t device_nodes = 0, mounts = 0, hooks = 0;
};

// If OCI_CONFIG requests GPUs (NVIDIA_VISIBLE_DEVICES, cdi.k8s.io/* annotations), loads the CDI
// registry from ROOT/etc/cdi and ROOT/var/run/cdi, resolves and applies. Errors are one line
// meant for the user ("NVIDIA_VISIBLE_DEVICES: unknown GPU 7 (have 0, 1, ..., all)"), with the
// registry's unreadable spec files appended when resolution failed.
Result<InjectResult> InjectGpus(nlohmann::json& oci_config, const std::string& root = "/");

}  // namespace imgfs::gpu
