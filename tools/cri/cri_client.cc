#include "tools/cri/cri_client.h"

#include <grpcpp/grpcpp.h>

#include "imgfs/snapshotter/grpc_status.h"
#include "tools/cri/cri_api.grpc.pb.h"

namespace imgfs::cri {

namespace {

namespace v1 = ::runtime::v1;

constexpr std::chrono::seconds kQuickDeadline{60};

using ::imgfs::snapshotter::FromGrpc;

void ToProto(const PodSpec& pod, v1::PodSandboxConfig* c) {
  c->mutable_metadata()->set_name(pod.name);
  c->mutable_metadata()->set_uid(pod.uid);
  c->mutable_metadata()->set_namespace_(pod.ns);
  c->set_log_directory(pod.log_directory);
  if (pod.host_network) {
    c->mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(
        v1::NODE);
  }
}

ContainerState FromProto(v1::ContainerState s) {
  switch (s) {
    case v1::CONTAINER_CREATED:
      return ContainerState::kCreated;
    case v1::CONTAINER_RUNNING:
      return ContainerState::kRunning;
    case v1::CONTAINER_EXITED:
      return ContainerState::kExited;
    default:
      return ContainerState::kUnknown;
  }
}

}  // namespace

struct CriClient::Impl {
  std::unique_ptr<v1::RuntimeService::Stub> runtime;
  std::unique_ptr<v1::ImageService::Stub> images;
  std::chrono::seconds timeout;

  // A context whose deadline is SLOW ? the client's timeout : the quick one.
  std::unique_ptr<grpc::ClientContext> Context(bool slow) const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + (slow ? timeout : kQuickDeadline));
    return ctx;
  }
};

CriClient::CriClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CriClient::~CriClient() = default;

Result<std::unique_ptr<CriClient>> CriClient::Connect(const std::string& socket,
                                                      std::chrono::seconds timeout) {
  if (socket.empty()) return Status::InvalidArgument("no CRI socket given");
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials());
  auto impl = std::make_unique<Impl>();
  impl->runtime = v1::RuntimeService::NewStub(channel);
  impl->images = v1::ImageService::NewStub(channel);
  impl->timeout = timeout;
  return std::unique_ptr<CriClient>(new CriClient(std::move(impl)));
}

Result<std::string> CriClient::Version() {
  v1::VersionRequest req;
  req.set_version("v1");
  v1::VersionResponse resp;
  RETURN_IF_ERROR(
      FromGrpc(impl_->runtime->Version(impl_->Context(false).get(), req, &resp), "CRI Version"));
  return resp.runtime_name() + " " + resp.runtime_version() + " (CRI " +
         resp.runtime_api_version() + ")";
}

Result<std::string> CriClient::PullImage(const std::string& image) {
  v1::PullImageRequest req;
  req.mutable_image()->set_image(image);
  v1::PullImageResponse resp;
  RETURN_IF_ERROR(FromGrpc(impl_->images->PullImage(impl_->Context(true).get(), req, &resp),
                           "CRI PullImage " + image));
  return resp.image_ref();
}

Result<std::optional<ImageInfo>> CriClient::ImageStatus(const std::string& image) {
  v1::ImageStatusRequest req;
  req.mutable_image()->set_image(image);
  v1::ImageStatusResponse resp;
  RETURN_IF_ERROR(FromGrpc(impl_->images->ImageStatus(impl_->Context(false).get(), req, &resp),
                           "CRI ImageStatus " + image));
  if (!resp.has_image()) return std::optional<ImageInfo>();
  ImageInfo info;
  info.id = resp.image().id();
  info.repo_tags.assign(resp.image().repo_tags().begin(), resp.image().repo_tags().end());
  info.repo_digests.assign(resp.image().repo_digests().begin(), resp.image().repo_digests().end());
  info.size = resp.image().size();
  return std::optional<ImageInfo>(std::move(info));
}

Status CriClient::RemoveImage(const std::string& image) {
  v1::RemoveImageRequest req;
  req.mutable_image()->set_image(image);
  v1::RemoveImageResponse resp;
  return FromGrpc(impl_->images->RemoveImage(impl_->Context(false).get(), req, &resp),
                  "CRI RemoveImage " + image);
}

Result<std::string> CriClient::RunPodSandbox(const PodSpec& pod) {
  v1::RunPodSandboxRequest req;
  ToProto(pod, req.mutable_config());
  req.set_runtime_handler(pod.runtime_handler);
  v1::RunPodSandboxResponse resp;
  RETURN_IF_ERROR(FromGrpc(impl_->runtime->RunPodSandbox(impl_->Context(true).get(), req, &resp),
                           "CRI RunPodSandbox " + pod.name));
  return resp.pod_sandbox_id();
}

Status CriClient::StopPodSandbox(const std::string& pod_id) {
  v1::StopPodSandboxRequest req;
  req.set_pod_sandbox_id(pod_id);
  v1::StopPodSandboxResponse resp;
  return FromGrpc(impl_->runtime->StopPodSandbox(impl_->Context(false).get(), req, &resp),
                  "CRI StopPodSandbox " + pod_id);
}

Status CriClient::RemovePodSandbox(const std::string& pod_id) {
  v1::RemovePodSandboxRequest req;
  req.set_pod_sandbox_id(pod_id);
  v1::RemovePodSandboxResponse resp;
  return FromGrpc(impl_->runtime->RemovePodSandbox(impl_->Context(false).get(), req, &resp),
                  "CRI RemovePodSandbox " + pod_id);
}

Result<std::string> CriClient::CreateContainer(const std::string& pod_id,
                                               const ContainerSpec& container, const PodSpec& pod) {
  v1::CreateContainerRequest req;
  req.set_pod_sandbox_id(pod_id);
  ToProto(pod, req.mutable_sandbox_config());
  v1::ContainerConfig* c = req.mutable_config();
  c->mutable_metadata()->set_name(container.name);
  c->mutable_image()->set_image(container.image);
  for (const std::string& a : container.command) c->add_command(a);
  for (const std::string& a : container.args) c->add_args(a);
  for (const auto& [k, v] : container.env) {
    v1::KeyValue* kv = c->add_envs();
    kv->set_key(k);
    kv->set_value(v);
  }
  c->set_log_path(container.log_path);
  v1::NamespaceOption* ns =
      c->mutable_linux()->mutable_security_context()->mutable_namespace_options();
  ns->set_network(pod.host_network ? v1::NODE : v1::POD);
  ns->set_pid(v1::CONTAINER);  // what the kubelet sets for a pod without shareProcessNamespace
  v1::CreateContainerResponse resp;
  RETURN_IF_ERROR(FromGrpc(impl_->runtime->CreateContainer(impl_->Context(true).get(), req, &resp),
                           "CRI CreateContainer " + container.name));
  return resp.container_id();
}

Status CriClient::StartContainer(const std::string& id) {
  v1::StartContainerRequest req;
  req.set_container_id(id);
  v1::StartContainerResponse resp;
  return FromGrpc(impl_->runtime->StartContainer(impl_->Context(true).get(), req, &resp),
                  "CRI StartContainer " + id);
}

Result<ContainerInfo> CriClient::ContainerStatus(const std::string& id) {
  v1::ContainerStatusRequest req;
  req.set_container_id(id);
  v1::ContainerStatusResponse resp;
  RETURN_IF_ERROR(FromGrpc(impl_->runtime->ContainerStatus(impl_->Context(false).get(), req, &resp),
                           "CRI ContainerStatus " + id));
  const v1::ContainerStatus& s = resp.status();
  ContainerInfo info;
  info.state = FromProto(s.state());
  info.exit_code = s.exit_code();
  info.started_at_ns = s.started_at();
  info.finished_at_ns = s.finished_at();
  info.reason = s.reason();
  info.message = s.message();
  info.log_path = s.log_path();
  return info;
}

Status CriClient::StopContainer(const std::string& id, int64_t timeout_s) {
  v1::StopContainerRequest req;
  req.set_container_id(id);
  req.set_timeout(timeout_s);
  v1::StopContainerResponse resp;
  return FromGrpc(impl_->runtime->StopContainer(impl_->Context(true).get(), req, &resp),
                  "CRI StopContainer " + id);
}

Status CriClient::RemoveContainer(const std::string& id) {
  v1::RemoveContainerRequest req;
  req.set_container_id(id);
  v1::RemoveContainerResponse resp;
  return FromGrpc(impl_->runtime->RemoveContainer(impl_->Context(false).get(), req, &resp),
                  "CRI RemoveContainer " + id);
}

}  // namespace imgfs::cri
