// Discovery of an NVIDIA driver installation under a root path ("/" on a host, a fake tree in
// tests): GPUs, device nodes, user-space libraries (from ROOT/etc/ld.so.cache), binaries,
// firmware and IPC sockets. Reads files only; loads nothing, needs no NVML. Thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace imgfs::gpu {

// Driver capabilities as NVIDIA_DRIVER_CAPABILITIES names them.
enum class Capability { kUtility, kCompute, kVideo, kGraphics, kDisplay };
std::string_view CapabilityName(Capability c);
std::optional<Capability> ParseCapability(std::string_view name);

// The capability a driver file (library, binary) belongs to, by its base name; nullopt when the
// file is not an NVIDIA driver file we inject. "libcuda.so.550.54.14" -> kCompute.
std::optional<Capability> ClassifyDriverFile(std::string_view basename);

// A character device node as found on the host (major/minor from st_rdev).
struct DeviceNodeInfo {
  std::string path;  // absolute, without the root prefix: "/dev/nvidia0"
  uint32_t major = 0;
  uint32_t minor = 0;
  uint32_t mode = 0666;  // permission bits of the host node
};

struct GpuInfo {
  int index = 0;       // position in PCI bus order (what CUDA and nvidia-smi number)
  int minor = -1;      // "Device Minor": /dev/nvidia<minor>
  std::string uuid;    // "GPU-..."
  std::string bus_id;  // "0000:3b:00.0"
  std::string model;   // "NVIDIA H100 80GB HBM3"
  std::optional<DeviceNodeInfo> node;  // absent when /dev/nvidia<minor> is missing
};

struct DriverFile {
  std::string path;  // absolute, without the root prefix
  Capability capability = Capability::kUtility;
  std::string soname;  // libraries: the ld.so.cache key ("libcuda.so.1"); else empty
};

struct DriverInfo {
  std::string root;          // as given, "/" for the host
  std::string version;       // "550.54.14"; empty when unknown
  std::string cuda_version;  // max CUDA the driver supports, "12.4"; empty when unknown
  std::map<std::string, uint32_t> majors;     // ROOT/proc/devices: "nvidia-uvm" -> 508
  std::vector<GpuInfo> gpus;                  // by index
  std::vector<DeviceNodeInfo> control_nodes;  // nvidiactl, nvidia-uvm(-tools), nvidia-caps/*
  std::vector<DriverFile> libraries;          // resolved real files, sorted by path
  std::vector<DriverFile> binaries;
  std::vector<std::string> firmware;  // /lib/firmware/nvidia/<version>/*.bin
  std::vector<DriverFile> ipc;        // persistenced socket, MPS pipe directory
  std::vector<std::string> warnings;  // stale nodes, unreadable files: worth telling a user

  // ROOT + PATH.
  std::string HostPath(std::string_view path) const;
};

// Everything under ROOT. kNotFound when there is no NVIDIA driver at all (no
// ROOT/proc/driver/nvidia/version and no libcuda in the cache).
Result<DriverInfo> DiscoverDriver(const std::string& root);

// "550.54.14" from the text of /proc/driver/nvidia/version.
std::optional<std::string> ParseDriverVersionFile(std::string_view text);
// "550.54.14" from "libcuda.so.550.54.14"; nullopt for "libcuda.so.1".
std::optional<std::string> DriverVersionFromLibName(std::string_view basename);
// The newest CUDA version a driver supports ("550.54.14" -> "12.4"); empty when older than
// every row of the table.
std::string MaxCudaVersionForDriver(std::string_view driver_version);

// Compares dotted version strings numerically: <0, 0, >0.
int CompareVersions(std::string_view a, std::string_view b);

}  // namespace imgfs::gpu
