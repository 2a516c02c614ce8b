// `imgfs-cri run`: one container in a pod of its own through a CRI runtime, the way the kubelet
// starts a pod (RunPodSandbox, CreateContainer, StartContainer), its output followed in the CRI
// log file while it runs and copied to this process's stdout and stderr line by line, then its
// exit code. The pod uses the node's network namespace (no CNI).
//
// Timings (optional, on stderr): milliseconds from the start of Run to the pull's end, the
// sandbox, the container's creation and start, the first line of output and the exit.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "core/status.h"
#include "tools/cri/cri_client.h"

namespace imgfs::cri {

struct PodRunOptions {
  PodSpec pod;
  ContainerSpec container;
  bool pull = false;  // PullImage first
  bool keep = false;  // leave the container and pod (and their log directory) behind
  bool timings = false;
  std::chrono::milliseconds poll{2};  // how often the log is read (the state: 10x less often)
};

// Returns the container's exit code. The pod and container are removed afterwards (unless
// KEEP), also when a step fails. POD.log_directory must be an existing directory.
[[nodiscard]] Result<int> RunPod(CriClient& client, const PodRunOptions& options);

}  // namespace imgfs::cri
