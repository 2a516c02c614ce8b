// What a container asks for (from its OCI config) and its resolution against the installed CDI
// specs into the edits to apply. Pure functions over values; thread-safe.
//
// Sources, all read from the OCI runtime config:
//   process.env NVIDIA_VISIBLE_DEVICES   unset, "" or "void": nothing; "none": driver files and
//                                        control nodes but no GPU; "all"; "0,1"; "GPU-<uuid>,...";
//                                        CDI names ("nvidia.com/gpu=0") are accepted too.
//   process.env NVIDIA_DRIVER_CAPABILITIES  default "utility,compute"; "all"; a comma list.
//                                        Only requests made through NVIDIA_VISIBLE_DEVICES are
//                                        filtered by capability; CDI names get their full edits.
//   process.env NVIDIA_REQUIRE_*         e.g. "cuda>=12.0 brand=tesla,driver>=535": space-separated
//                                        alternatives (OR) of comma-separated terms (AND), checked
//                                        against the driver recorded in the spec; CUDA_VERSION=X.Y
//                                        means cuda>=X.Y when NVIDIA_REQUIRE_CUDA is unset;
//                                        NVIDIA_DISABLE_REQUIRE=true (or 1) skips all checks.
//   annotations "cdi.k8s.io/*"           comma-separated CDI names.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"
#include "gpu-hooks/cdi.h"
#include "gpu-hooks/cdi_registry.h"
#include "gpu-hooks/discovery.h"

namespace imgfs::gpu {

struct GpuRequest {
  std::vector<std::string> cdi_devices;        // fully qualified, from annotations (and env)
  std::optional<std::string> visible_devices;  // NVIDIA_VISIBLE_DEVICES as written
  std::optional<std::string> driver_capabilities;
  std::vector<std::string> requirements;  // values of NVIDIA_REQUIRE_*
  bool disable_require = false;

  // True when the container asks for nothing GPU-related (the common case: one env scan).
  bool empty() const;
};

// Reads the request from an OCI runtime config JSON. kInvalidArgument for a malformed config.
Result<GpuRequest> GpuRequestFromConfig(const nlohmann::json& oci_config);

// Capabilities from NVIDIA_DRIVER_CAPABILITIES ("" -> utility,compute; "all" -> every one).
// kInvalidArgument for an unknown name.
Result<std::set<Capability>> ParseCapabilities(const std::optional<std::string>& value);

// What the requirements are checked against.
struct DriverFacts {
  std::string driver_version;       // "550.54.14"
  std::string cuda_version;         // "12.4"
  std::vector<std::string> models;  // of the requested GPUs, for brand=
};
// OK when any alternative of every requirement holds; else kFailedPrecondition-like
// kInvalidArgument with one line: "unsatisfied condition: cuda>=12.6 (driver 550.54.14 supports
// CUDA 12.4)".
Status CheckRequirements(const std::vector<std::string>& requirements, const DriverFacts& facts);

// The edits for REQ: the named devices' edits plus the spec-level edits of each spec used (once),
// capability-filtered for NVIDIA_VISIBLE_DEVICES requests, after the requirement checks. Empty
// edits when nothing is requested. Errors name what was asked for and what exists:
// "NVIDIA_VISIBLE_DEVICES: unknown GPU 7 (have 0, 1, GPU-..., all)".
Result<CdiEdits> ResolveGpuRequest(const GpuRequest& req, const CdiRegistry& reg);

}  // namespace imgfs::gpu
