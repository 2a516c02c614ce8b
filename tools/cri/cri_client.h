// A client of Kubernetes' Container Runtime Interface (runtime.v1 RuntimeService and
// ImageService, cri_api.proto) on a runtime's Unix socket: containerd's own socket serves it
// through its CRI plugin. Only what imgfs-cri needs: pull, inspect and remove images, run a pod
// sandbox and one container in it. gRPC only in cri_client.cc.
//
// Errors carry the server's message and its gRPC code (NOT_FOUND is kNotFound, UNAVAILABLE and
// DEADLINE_EXCEEDED kUnavailable, ...). Every call has a deadline: the client's `timeout` for
// PullImage, RunPodSandbox and CreateContainer (they may wait on a registry or a mount), 60 s
// for the others. Thread-safe (gRPC stubs are).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace imgfs::cri {

struct PodSpec {
  std::string name;
  std::string uid;
  std::string ns = "default";   // the pod's Kubernetes namespace
  std::string log_directory;    // absolute; containers' log paths are relative to it
  bool host_network = true;     // NODE network namespace: no CNI needed
  std::string runtime_handler;  // "" is the runtime's default handler
};

struct ContainerSpec {
  std::string name;
  std::string image;  // a reference or image id
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::string log_path;  // relative to the pod's log directory
};

enum class ContainerState { kCreated, kRunning, kExited, kUnknown };

struct ContainerInfo {
  ContainerState state = ContainerState::kUnknown;
  int32_t exit_code = 0;
  int64_t started_at_ns = 0;
  int64_t finished_at_ns = 0;
  std::string reason;
  std::string message;
  std::string log_path;  // absolute
};

struct ImageInfo {
  std::string id;
  std::vector<std::string> repo_tags;
  std::vector<std::string> repo_digests;
  uint64_t size = 0;
};

class CriClient {
 public:
  // SOCKET: a Unix socket path. TIMEOUT: the deadline of the slow calls.
  [[nodiscard]] static Result<std::unique_ptr<CriClient>> Connect(const std::string& socket,
                                                                  std::chrono::seconds timeout);
  ~CriClient();

  // "RUNTIME_NAME RUNTIME_VERSION (CRI RUNTIME_API_VERSION)".
  [[nodiscard]] Result<std::string> Version();

  // Returns the image reference the runtime gives the image (its id).
  [[nodiscard]] Result<std::string> PullImage(const std::string& image);
  // std::nullopt when the runtime does not have IMAGE.
  [[nodiscard]] Result<std::optional<ImageInfo>> ImageStatus(const std::string& image);
  [[nodiscard]] Status RemoveImage(const std::string& image);

  // Returns the sandbox id.
  [[nodiscard]] Result<std::string> RunPodSandbox(const PodSpec& pod);
  [[nodiscard]] Status StopPodSandbox(const std::string& pod_id);
  [[nodiscard]] Status RemovePodSandbox(const std::string& pod_id);

  // Returns the container id.
  [[nodiscard]] Result<std::string> CreateContainer(const std::string& pod_id,
                                                    const ContainerSpec& container,
                                                    const PodSpec& pod);
  [[nodiscard]] Status StartContainer(const std::string& id);
  [[nodiscard]] Result<ContainerInfo> ContainerStatus(const std::string& id);
  [[nodiscard]] Status StopContainer(const std::string& id, int64_t timeout_s);
  [[nodiscard]] Status RemoveContainer(const std::string& id);

 private:
  struct Impl;
  explicit CriClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace imgfs::cri
