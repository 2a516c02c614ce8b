#include "imgfs/snapshotter/grpc_service.h"

#include <grpcpp/grpcpp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>

#include "core/fd.h"
#include "core/log.h"
#include "github.com/containerd/containerd/api/services/snapshots/v1/snapshots.grpc.pb.h"

namespace imgfs::snapshotter {

namespace {

namespace v1 = ::containerd::services::snapshots::v1;
using ::google::protobuf::Empty;
using ::grpc::ServerContext;

grpc::Status ToGrpc(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  grpc::StatusCode code = grpc::StatusCode::INTERNAL;
  switch (s.code()) {
    case Code::kInvalidArgument:
      code = grpc::StatusCode::INVALID_ARGUMENT;
      break;
    case Code::kNotFound:
      code = grpc::StatusCode::NOT_FOUND;
      break;
    case Code::kAlreadyExists:
      code = grpc::StatusCode::ALREADY_EXISTS;
      break;
    case Code::kUnavailable:
      code = grpc::StatusCode::UNAVAILABLE;
      break;
    case Code::kPermissionDenied:
      code = grpc::StatusCode::PERMISSION_DENIED;
      break;
    case Code::kResourceExhausted:
      code = grpc::StatusCode::RESOURCE_EXHAUSTED;
      break;
    case Code::kUnimplemented:
      code = grpc::StatusCode::UNIMPLEMENTED;
      break;
    default:
      break;
  }
  return grpc::Status(code, s.message());
}

Labels FromProto(const google::protobuf::Map<std::string, std::string>& m) {
  return Labels(m.begin(), m.end());
}

void ToProto(const std::vector<Mount>& mounts,
             google::protobuf::RepeatedPtrField<::containerd::types::Mount>* out) {
  for (const Mount& m : mounts) {
    ::containerd::types::Mount* p = out->Add();
    p->set_type(m.type);
    p->set_source(m.source);
    for (const std::string& o : m.options) p->add_options(o);
  }
}

void SetTime(int64_t ns, google::protobuf::Timestamp* t) {
  t->set_seconds(ns / 1000000000);
  t->set_nanos(static_cast<int32_t>(ns % 1000000000));
}

void ToProto(const SnapshotInfo& s, v1::Info* out) {
  out->set_name(s.name);
  out->set_parent(s.parent);
  out->set_kind(s.kind == Kind::kView     ? v1::VIEW
                : s.kind == Kind::kActive ? v1::ACTIVE
                                          : v1::COMMITTED);
  SetTime(s.created_ns, out->mutable_created_at());
  SetTime(s.updated_ns, out->mutable_updated_at());
  for (const auto& [k, v] : s.labels) (*out->mutable_labels())[k] = v;
}

// Every call logs its time and failure at debug level (containerd logs what it gets back) and
// answers.
class Service final : public v1::Snapshots::Service {
 public:
  explicit Service(Snapshotter* s) : s_(s) {}

  grpc::Status Prepare(ServerContext*, const v1::PrepareSnapshotRequest* req,
                       v1::PrepareSnapshotResponse* resp) override {
    const Clock::time_point start = Clock::now();
    Result<std::vector<Mount>> m = s_->Prepare(req->key(), req->parent(), FromProto(req->labels()));
    if (m.ok()) ToProto(*m, resp->mutable_mounts());
    return Answer(start, "prepare " + req->key(), m.status());
  }
  grpc::Status View(ServerContext*, const v1::ViewSnapshotRequest* req,
                    v1::ViewSnapshotResponse* resp) override {
    const Clock::time_point start = Clock::now();
    Result<std::vector<Mount>> m = s_->View(req->key(), req->parent(), FromProto(req->labels()));
    if (m.ok()) ToProto(*m, resp->mutable_mounts());
    return Answer(start, "view " + req->key(), m.status());
  }
  grpc::Status Mounts(ServerContext*, const v1::MountsRequest* req,
                      v1::MountsResponse* resp) override {
    const Clock::time_point start = Clock::now();
    Result<std::vector<Mount>> m = s_->Mounts(req->key());
    if (m.ok()) ToProto(*m, resp->mutable_mounts());
    return Answer(start, "mounts " + req->key(), m.status());
  }
  grpc::Status Commit(ServerContext*, const v1::CommitSnapshotRequest* req, Empty*) override {
    const Clock::time_point start = Clock::now();
    return Answer(start, "commit " + req->key(),
                  s_->Commit(req->name(), req->key(), FromProto(req->labels())));
  }
  grpc::Status Remove(ServerContext*, const v1::RemoveSnapshotRequest* req, Empty*) override {
    const Clock::time_point start = Clock::now();
    return Answer(start, "remove " + req->key(), s_->Remove(req->key()));
  }
  grpc::Status Stat(ServerContext*, const v1::StatSnapshotRequest* req,
                    v1::StatSnapshotResponse* resp) override {
    const Clock::time_point start = Clock::now();
    Result<SnapshotInfo> info = s_->Stat(req->key());
    if (info.ok()) ToProto(*info, resp->mutable_info());
    return Answer(start, "stat " + req->key(), info.status());
  }
  grpc::Status Update(ServerContext*, const v1::UpdateSnapshotRequest* req,
                      v1::UpdateSnapshotResponse* resp) override {
    const Clock::time_point start = Clock::now();
    SnapshotInfo info;
    info.name = req->info().name();
    info.labels = FromProto(req->info().labels());
    std::vector<std::string> fields(req->update_mask().paths().begin(),
                                    req->update_mask().paths().end());
    Result<SnapshotInfo> updated = s_->Update(info, fields);
    if (updated.ok()) ToProto(*updated, resp->mutable_info());
    return Answer(start, "update " + info.name, updated.status());
  }
  grpc::Status List(ServerContext*, const v1::ListSnapshotsRequest* req,
                    grpc::ServerWriter<v1::ListSnapshotsResponse>* writer) override {
    const Clock::time_point start = Clock::now();
    Result<std::vector<SnapshotInfo>> list =
        s_->List(std::vector<std::string>(req->filters().begin(), req->filters().end()));
    if (!list.ok()) return Answer(start, "list", list.status());
    v1::ListSnapshotsResponse batch;
    for (const SnapshotInfo& s : *list) {
      ToProto(s, batch.add_info());
      if (batch.info_size() == 100) {
        if (!writer->Write(batch)) return grpc::Status(grpc::StatusCode::CANCELLED, "list");
        batch.Clear();
      }
    }
    if (batch.info_size() > 0 && !writer->Write(batch))
      return grpc::Status(grpc::StatusCode::CANCELLED, "list");
    return grpc::Status::OK;
  }
  grpc::Status Usage(ServerContext*, const v1::UsageRequest* req,
                     v1::UsageResponse* resp) override {
    const Clock::time_point start = Clock::now();
    Result<snapshotter::Usage> u = s_->GetUsage(req->key());
    if (u.ok()) {
      resp->set_size(u->size);
      resp->set_inodes(u->inodes);
    }
    return Answer(start, "usage " + req->key(), u.status());
  }
  grpc::Status Cleanup(ServerContext*, const v1::CleanupRequest*, Empty*) override {
    const Clock::time_point start = Clock::now();
    return Answer(start, "cleanup", s_->Cleanup());
  }

 private:
  using Clock = std::chrono::steady_clock;
  static grpc::Status Answer(Clock::time_point start, const std::string& what, const Status& s) {
    IMGFS_LOG(Debug) << what << ": "
                     << std::chrono::duration<double, std::milli>(Clock::now() - start).count()
                     << " ms" << (s.ok() ? "" : ", " + s.message());
    return ToGrpc(s);
  }
  Snapshotter* s_;
};

// Whether something listens on the Unix socket at PATH.
bool SocketAnswers(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, sizeof addr.sun_path - 1);
  return RetryOnEintr([&] {
           return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
         }) == 0;
}

}  // namespace

struct GrpcServer::Impl {
  std::unique_ptr<Service> service;
  std::unique_ptr<grpc::Server> server;
};

GrpcServer::GrpcServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GrpcServer::~GrpcServer() { Shutdown(); }

Result<std::unique_ptr<GrpcServer>> GrpcServer::Start(Snapshotter* snapshotter,
                                                      const std::string& path) {
  if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path))
    return Status::InvalidArgument("socket path '" + path + "' is empty or too long");
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return Status::AlreadyExists(path + " exists and is not a socket");
    if (SocketAnswers(path)) return Status::AlreadyExists("a server already listens on " + path);
    ::unlink(path.c_str());
  }
  auto impl = std::make_unique<Impl>();
  impl->service = std::make_unique<Service>(snapshotter);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + path, grpc::InsecureServerCredentials());
  builder.RegisterService(impl->service.get());
  impl->server = builder.BuildAndStart();
  if (!impl->server) return Status::Unavailable("cannot listen on " + path);
  if (::chmod(path.c_str(), 0600) != 0) return Status::FromErrno(errno, "chmod " + path);
  return std::unique_ptr<GrpcServer>(new GrpcServer(std::move(impl)));
}

void GrpcServer::Wait() {
  if (impl_->server) impl_->server->Wait();
}

void GrpcServer::Shutdown() {
  if (impl_ && impl_->server) impl_->server->Shutdown();
}

}  // namespace imgfs::snapshotter
