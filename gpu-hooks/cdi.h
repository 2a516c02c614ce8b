// Container Device Interface (CDI) specs: the data model (cdiVersion 0.6.0 subset that this
// project writes and reads), JSON conversion both ways, and generation of the "nvidia.com/gpu"
// spec from a discovered driver. Value types; thread-compatible.
// Schema: https://github.com/cncf-tags/container-device-interface/blob/main/SPEC.md
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "gpu-hooks/discovery.h"

namespace imgfs::gpu {

inline constexpr char kCdiVersion[] = "0.6.0";
inline constexpr char kNvidiaGpuKind[] = "nvidia.com/gpu";
// The only environment a hook we write or apply runs with (NVIDIAScape, CVE-2025-23266: a hook
// must not inherit LD_PRELOAD or anything else from the container's configuration).
inline constexpr char kHookPathEnv[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
// Spec-level annotations the generator records so requests can be checked without rediscovery.
inline constexpr char kAnnotationDriverVersion[] = "imgfs.dev/driver-version";
inline constexpr char kAnnotationCudaVersion[] = "imgfs.dev/cuda-version";
inline constexpr char kAnnotationModel[] = "imgfs.dev/model";  // device-level

struct CdiDeviceNode {
  std::string path;       // in the container
  std::string host_path;  // empty: same as path
  std::string type = "c";
  int64_t major = -1;  // -1: unset (taken from the host node at apply time)
  int64_t minor = -1;
  std::optional<uint32_t> file_mode;
  std::string permissions;  // cgroup access, "rw"; empty means "rwm"
  std::optional<uint32_t> uid, gid;
  bool operator==(const CdiDeviceNode&) const = default;
};

struct CdiMount {
  std::string host_path;
  std::string container_path;
  std::string type;  // empty: bind
  std::vector<std::string> options;
  bool operator==(const CdiMount&) const = default;
};

struct CdiHook {
  std::string hook_name;  // OCI hook point: "createContainer", ...
  std::string path;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::optional<int> timeout;
  bool operator==(const CdiHook&) const = default;
};

// containerEdits, and what applying one or more devices produces.
struct CdiEdits {
  std::vector<std::string> env;
  std::vector<CdiDeviceNode> device_nodes;
  std::vector<CdiMount> mounts;
  std::vector<CdiHook> hooks;

  bool empty() const {
    return env.empty() && device_nodes.empty() && mounts.empty() && hooks.empty();
  }
  // Appends OTHER, skipping device nodes and mounts whose container path is already present and
  // identical hooks (the same spec-level edits reached through two devices apply once).
  void Merge(const CdiEdits& other);
};

struct CdiDevice {
  std::string name;
  std::map<std::string, std::string> annotations;
  CdiEdits edits;
};

struct CdiSpec {
  std::string cdi_version = kCdiVersion;
  std::string kind;  // "vendor/class"
  std::map<std::string, std::string> annotations;
  std::vector<CdiDevice> devices;
  CdiEdits edits;  // spec-level containerEdits: applied once when any device is used

  const CdiDevice* FindDevice(const std::string& name) const;
};

nlohmann::json CdiSpecToJson(const CdiSpec& spec);
// Validates required fields (cdiVersion, kind vendor/class, device names, node paths).
Result<CdiSpec> CdiSpecFromJson(const nlohmann::json& j);
nlohmann::json CdiEditsToJson(const CdiEdits& edits);
Result<CdiEdits> CdiEditsFromJson(const nlohmann::json& j);

struct GenerateOptions {
  // Absolute host path of imgfs-gpu-hook as the runtime will exec it.
  std::string hook_path = "/usr/local/bin/imgfs-gpu-hook";
};

// The nvidia.com/gpu spec for INFO: devices "0".."N-1" (bus order), each GPU's UUID, and "all";
// spec-level edits with the control nodes, driver files (read-only bind mounts), the ldconfig hook
// and NVIDIA_VISIBLE_DEVICES=void. Host paths include INFO.root; container paths do not.
Result<CdiSpec> GenerateNvidiaSpec(const DriverInfo& info, const GenerateOptions& options);

}  // namespace imgfs::gpu
