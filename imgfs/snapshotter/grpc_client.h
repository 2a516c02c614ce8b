// A client of the snapshots API (containerd.services.snapshots.v1): containerd's own socket
// (requests name the snapshotter and carry the containerd namespace) or a snapshotter's socket.
// `imgfs snapshotter unpack` uses it to register an imgfs image's layers with containerd the way
// containerd's unpacker does, so nothing is downloaded. gRPC only here and in grpc_service.cc.
// Every call has a deadline (60 s). Thread-safe (gRPC stubs are).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/status.h"
#include "imgfs/snapshotter/snapshot_table.h"

namespace imgfs::snapshotter {

class SnapshotsClient {
 public:
  // SOCKET: a Unix socket path. SNAPSHOTTER: the name containerd knows the snapshotter by
  // ("imgfs"); NAMESPACE: containerd's namespace ("default").
  [[nodiscard]] static Result<std::unique_ptr<SnapshotsClient>> Connect(const std::string& socket,
                                                                        std::string snapshotter,
                                                                        std::string ns);
  ~SnapshotsClient();

  // Statuses carry the server's message and its gRPC code: ALREADY_EXISTS is kAlreadyExists,
  // NOT_FOUND kNotFound, UNAVAILABLE (also a socket nobody answers) kUnavailable.
  // Makes every later call part of a new containerd lease that expires after TTL (the
  // containerd.io/gc.expire label): what it creates survives containerd's garbage collector
  // until then. Unimplemented when the server is not containerd.
  [[nodiscard]] Status UseLease(std::chrono::seconds ttl);
  // Deletes the lease UseLease made (what only it held goes at the next collection).
  [[nodiscard]] Status DropLease();
  [[nodiscard]] Status Prepare(const std::string& key, const std::string& parent,
                               const Labels& labels);
  [[nodiscard]] Status Remove(const std::string& key);
  [[nodiscard]] Result<SnapshotInfo> Stat(const std::string& key);

 private:
  struct Impl;
  explicit SnapshotsClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace imgfs::snapshotter
