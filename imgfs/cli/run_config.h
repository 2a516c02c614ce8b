// The OCI runtime config of `imgfs run`: the runtime's default spec (`runc-lite spec`), the image
// config (Entrypoint, Cmd, Env, WorkingDir, User, ExposedPorts) and the run's flags, merged as
// podman and docker do: a command after the image replaces Cmd and keeps Entrypoint; -e K=V
// replaces the image's K; -w and -u replace WorkingDir and User; volumes are bind mounts.
// Pure functions over JSON and a root filesystem path (for names in /etc/passwd and /etc/group
// and for finding the program): thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace imgfs::cli {

struct RunOptions {
  std::vector<std::string> command;  // after IMAGE; empty: the image's
  std::vector<std::string> env;      // -e K=V, in order (after --env-file's)
  std::vector<std::string> volumes;  // -v SRC:DST[:ro|rw]
  std::string workdir;               // -w
  std::string user;                  // -u UID[:GID] or NAME[:GROUP]
  std::string hostname;
  std::string net = "none";  // "none": a new network namespace (loopback only); "host"
  bool read_only = false;
  bool tty = false;
  std::optional<uint64_t> memory;  // bytes
  std::optional<double> cpus;      // CPUs of quota per 100 ms period
  std::optional<int64_t> pids_limit;
  std::string gpus;  // NVIDIA_VISIBLE_DEVICES for --gpus (GpuVisibleDevices); empty: none
};

// `--keep-warm DURATION`: how long the image's mount stays after the last container's exit:
// seconds, or a number with s, m or h; "forever" (nullopt) keeps it until `imgfs umount`.
inline constexpr char kDefaultKeepWarm[] = "10m";
Result<std::optional<unsigned>> ParseKeepWarm(const std::string& text);

// NVIDIA_VISIBLE_DEVICES for `--gpus VALUE`, as docker and podman read it: "all"; a count N
// (the first N GPUs: "0,...,N-1"); "device=LIST" or LIST (indexes, GPU-UUIDs, CDI names,
// comma-separated; docker's quotes around it are dropped). gpu-hooks resolves the result against
// the node's CDI specs, so an unknown GPU is reported there.
Result<std::string> GpuVisibleDevices(std::string value);

// Reads an --env-file: K=V lines; blank lines and lines starting with # are skipped; a bare K
// takes the value of K in HOST_ENV (skipped when unset there).
Result<std::vector<std::string>> ParseEnvFile(const std::string& text,
                                              const std::vector<std::string>& host_env);

// The config for ROOTFS (absolute; the image, mounted) from the runtime's default SPEC and the
// image's config (the OCI config JSON: {"config": {"Entrypoint": ..., ...}}; may be null).
// NOTES gets one line for each part of the image config that is ignored (ExposedPorts, ...).
// Errors: no command, a bad -v/-u/-e, a program that is not in the image.
Result<nlohmann::json> BuildRunConfig(nlohmann::json spec, const nlohmann::json& image_config,
                                      const RunOptions& options, const std::string& rootfs,
                                      std::vector<std::string>* notes);

}  // namespace imgfs::cli
