// The gRPC face of the Snapshotter: containerd.services.snapshots.v1.Snapshots on a Unix
// socket, as containerd's proxy_plugins expect. The only file that includes gRPC and the
// generated code (with grpc_client.cc). Errors keep their message and map to gRPC codes that
// containerd turns back into its errdefs (NotFound, AlreadyExists, InvalidArgument,
// Unavailable...). List ignores its filters and returns every snapshot (containerd's metadata
// layer filters what it reads back). Thread-safe: requests run on gRPC's threads.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "imgfs/snapshotter/snapshotter.h"

namespace imgfs::snapshotter {

class GrpcServer {
 public:
  // Listens on the Unix socket PATH (a stale socket file there is replaced; the socket is made
  // 0600: containerd runs as root) and serves SNAPSHOTTER, which must outlive the server.
  [[nodiscard]] static Result<std::unique_ptr<GrpcServer>> Start(Snapshotter* snapshotter,
                                                                 const std::string& path);
  ~GrpcServer();
  // Blocks until Shutdown (from another thread or a signal handler's thread).
  void Wait();
  void Shutdown();

 private:
  struct Impl;
  explicit GrpcServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace imgfs::snapshotter
