#include "imgfs/snapshotter/grpc_client.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <ctime>

#include "github.com/containerd/containerd/api/services/leases/v1/leases.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/snapshots/v1/snapshots.grpc.pb.h"
#include "imgfs/snapshotter/grpc_status.h"

namespace imgfs::snapshotter {

namespace {

namespace v1 = ::containerd::services::snapshots::v1;

constexpr std::chrono::seconds kDeadline{60};

}  // namespace

struct SnapshotsClient::Impl {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Snapshots::Stub> stub;
  std::string snapshotter;
  std::string ns;
  std::string lease;  // "" for none

  void Setup(grpc::ClientContext* ctx) const {
    ctx->set_deadline(std::chrono::system_clock::now() + kDeadline);
    ctx->AddMetadata("containerd-namespace", ns);
    if (!lease.empty()) ctx->AddMetadata("containerd-lease", lease);
  }
};

SnapshotsClient::SnapshotsClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SnapshotsClient::~SnapshotsClient() = default;

Result<std::unique_ptr<SnapshotsClient>> SnapshotsClient::Connect(const std::string& socket,
                                                                  std::string snapshotter,
                                                                  std::string ns) {
  if (socket.empty()) return Status::InvalidArgument("no socket to connect to");
  auto impl = std::make_unique<Impl>();
  impl->channel = grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials());
  impl->stub = v1::Snapshots::NewStub(impl->channel);
  impl->snapshotter = std::move(snapshotter);
  impl->ns = std::move(ns);
  return std::unique_ptr<SnapshotsClient>(new SnapshotsClient(std::move(impl)));
}

Status SnapshotsClient::UseLease(std::chrono::seconds ttl) {
  namespace leases = ::containerd::services::leases::v1;
  const std::time_t expire =
      std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() + ttl);
  std::tm utc;
  char when[32];
  ::gmtime_r(&expire, &utc);
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &utc);
  grpc::ClientContext ctx;
  impl_->Setup(&ctx);
  leases::CreateRequest req;
  req.set_id("imgfs-unpack-" + std::to_string(::getpid()) + "-" + std::to_string(expire));
  (*req.mutable_labels())["containerd.io/gc.expire"] = when;
  leases::CreateResponse resp;
  RETURN_IF_ERROR(FromGrpc(leases::Leases::NewStub(impl_->channel)->Create(&ctx, req, &resp),
                           "create lease " + req.id()));
  impl_->lease = resp.lease().id();
  return Status::Ok();
}

Status SnapshotsClient::DropLease() {
  namespace leases = ::containerd::services::leases::v1;
  if (impl_->lease.empty()) return Status::Ok();
  grpc::ClientContext ctx;
  impl_->Setup(&ctx);
  leases::DeleteRequest req;
  req.set_id(impl_->lease);
  google::protobuf::Empty resp;
  impl_->lease.clear();
  return FromGrpc(leases::Leases::NewStub(impl_->channel)->Delete(&ctx, req, &resp),
                  "delete lease " + req.id());
}

Status SnapshotsClient::Prepare(const std::string& key, const std::string& parent,
                                const Labels& labels) {
  grpc::ClientContext ctx;
  impl_->Setup(&ctx);
  v1::PrepareSnapshotRequest req;
  req.set_snapshotter(impl_->snapshotter);
  req.set_key(key);
  req.set_parent(parent);
  for (const auto& [k, v] : labels) (*req.mutable_labels())[k] = v;
  v1::PrepareSnapshotResponse resp;
  return FromGrpc(impl_->stub->Prepare(&ctx, req, &resp), "prepare " + key);
}

Status SnapshotsClient::Remove(const std::string& key) {
  grpc::ClientContext ctx;
  impl_->Setup(&ctx);
  v1::RemoveSnapshotRequest req;
  req.set_snapshotter(impl_->snapshotter);
  req.set_key(key);
  google::protobuf::Empty resp;
  return FromGrpc(impl_->stub->Remove(&ctx, req, &resp), "remove " + key);
}

Result<SnapshotInfo> SnapshotsClient::Stat(const std::string& key) {
  grpc::ClientContext ctx;
  impl_->Setup(&ctx);
  v1::StatSnapshotRequest req;
  req.set_snapshotter(impl_->snapshotter);
  req.set_key(key);
  v1::StatSnapshotResponse resp;
  RETURN_IF_ERROR(FromGrpc(impl_->stub->Stat(&ctx, req, &resp), "stat " + key));
  SnapshotInfo info;
  info.name = resp.info().name();
  info.parent = resp.info().parent();
  info.kind = resp.info().kind() == v1::VIEW     ? Kind::kView
              : resp.info().kind() == v1::ACTIVE ? Kind::kActive
                                                 : Kind::kCommitted;
  info.labels = Labels(resp.info().labels().begin(), resp.info().labels().end());
  return info;
}

}  // namespace imgfs::snapshotter
