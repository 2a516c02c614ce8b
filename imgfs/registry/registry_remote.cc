#include "imgfs/registry/registry_remote.h"

#include <nlohmann/json.hpp>

#include "core/oci_image.h"
#include "imgfs/registry/registry_source.h"

namespace imgfs::registry {
namespace {

constexpr uint64_t kMaxManifest = 8u << 20;

// An artifact found among the referrers of `subject` must name it as its subject: a registry
// (or whoever writes the referrers tag) cannot hand one image's index to another.
Status CheckSubject(const Artifact& a, const Digest& artifact, const Digest& subject) {
  if (!a.subject)
    return Status::Corruption("artifact " + artifact.ToString() + " is listed as a referrer of " +
                              subject.ToString() + " but has no subject");
  if (a.subject->digest != subject)
    return Status::Corruption("artifact " + artifact.ToString() + " is listed as a referrer of " +
                              subject.ToString() + " but its subject is " +
                              a.subject->digest.ToString());
  return Status::Ok();
}

}  // namespace

Result<Artifact> RegistryRemoteStore::ArtifactOf(const Digest& index_digest) {
  {
    std::lock_guard lock(mu_);
    if (last_artifact_ && last_artifact_->index.digest == index_digest) return *last_artifact_;
  }
  const std::string where = Describe() + ":" + IndexTag(index_digest);
  ASSIGN_OR_RETURN(FetchedManifest m, client_->GetManifest(IndexTag(index_digest), kMaxManifest));
  Result<Artifact> a = ParseArtifactManifest(m.bytes, kMaxManifest);
  if (!a.ok()) return a.status().WithContext(where);
  if (a->index.digest != index_digest)
    return Status::Corruption(where + " is the artifact of another index");
  std::lock_guard lock(mu_);
  last_artifact_ = *a;
  return a;
}

Result<std::string> RegistryRemoteStore::ReadCompressedIndex(const Digest& index_digest,
                                                             uint64_t max_size) {
  ASSIGN_OR_RETURN(Artifact a, ArtifactOf(index_digest));
  if (!a.compressed_index)
    return Status::NotFound(Describe() + ": no compressed index for " + index_digest.ToString());
  if (a.compressed_index->size > max_size)
    return Status::ResourceExhausted("compressed index " + index_digest.ToString() + " is " +
                                     std::to_string(a.compressed_index->size) + " bytes");
  return client_->GetBlob(a.compressed_index->digest, max_size);
}

Result<bool> RegistryRemoteStore::HasCompressedIndex(const Digest& index_digest) {
  Result<Artifact> a = ArtifactOf(index_digest);
  if (!a.ok()) {
    if (a.status().code() == Code::kNotFound) return false;
    return a.status();
  }
  if (!a->compressed_index) return false;
  ASSIGN_OR_RETURN(bool has, client_->HasBlob(a->compressed_index->digest));
  if (has) {
    std::lock_guard lock(mu_);
    written_compressed_index_ = a->compressed_index;  // what the push names again
  }
  return has;
}

Status RegistryRemoteStore::WriteCompressedIndex(const Digest& index_digest,
                                                 std::string_view frame) {
  const Digest d = Sha256(frame);
  RETURN_IF_ERROR(WriteBlob(d, frame).WithContext("compressed index " + index_digest.ToString()));
  std::lock_guard lock(mu_);
  written_compressed_index_ = BlobRef{std::string(kCompressedIndexLayerType), d, frame.size()};
  return Status::Ok();
}

Result<std::string> RegistryRemoteStore::ReadTrace(const Digest& index_digest, uint64_t max_size) {
  ASSIGN_OR_RETURN(Artifact a, ArtifactOf(index_digest));
  if (!a.trace) return Status::NotFound(Describe() + ": no trace for " + index_digest.ToString());
  if (a.trace->size > max_size)
    return Status::ResourceExhausted("trace of " + index_digest.ToString() + " is " +
                                     std::to_string(a.trace->size) + " bytes");
  return client_->GetBlob(a.trace->digest, max_size);
}

Status RegistryRemoteStore::WriteBlob(const Digest& digest, std::string_view data) {
  if (!mount_from_.empty()) {  // (a blob already here is mounted "again": a no-op)
    ASSIGN_OR_RETURN(bool mounted, client_->MountBlob(digest, mount_from_));
    if (mounted) {
      ++mounted_;
      return Status::Ok();
    }
  }
  return client_->PutBlob(digest, data).status();
}

Status RegistryRemoteStore::WriteTrace(const Digest& index_digest, std::string_view data) {
  const Digest d = Sha256(data);
  RETURN_IF_ERROR(
      client_->PutBlob(d, data).status().WithContext("trace of " + index_digest.ToString()));
  std::lock_guard lock(mu_);
  written_trace_ = BlobRef{std::string(kTraceLayerType), d, data.size()};
  return Status::Ok();
}

std::optional<BlobRef> RegistryRemoteStore::written_trace() const {
  std::lock_guard lock(mu_);
  return written_trace_;
}

std::optional<BlobRef> RegistryRemoteStore::written_compressed_index() const {
  std::lock_guard lock(mu_);
  return written_compressed_index_;
}

Result<std::pair<Reference, ClientOptions>> ParseRegistryRemoteUrl(const std::string& url,
                                                                   ClientOptions options) {
  std::string base = url, query;
  if (size_t q = url.find('?'); q != std::string::npos) {
    base = url.substr(0, q);
    query = url.substr(q + 1);
  }
  ASSIGN_OR_RETURN(Reference ref, ParseReference(base, /*repository_only=*/true));
  for (size_t start = 0; start < query.size();) {
    size_t amp = query.find('&', start);
    std::string item = query.substr(start, amp == std::string::npos ? amp : amp - start);
    if (item == "plain-http=1") {
      options.plain_http = true;
    } else if (item == "tls-verify=false") {
      options.transport.tls_verify = false;
    } else {
      return Status::InvalidArgument("remote " + base + ": unknown option \"" + item +
                                     "\" (plain-http=1, tls-verify=false)");
    }
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
  return std::make_pair(std::move(ref), std::move(options));
}

std::string RegistryRemoteUrl(const Reference& repo, const ClientOptions& options) {
  std::string url = std::string(kDockerScheme) + repo.host + "/" + repo.repository;
  std::string sep = "?";
  if (options.plain_http) url += sep + "plain-http=1", sep = "&";
  if (!options.transport.tls_verify) url += sep + "tls-verify=false";
  return url;
}

ClientOptions RegistryClientOptions(const remote::RemoteOptions& remote_options) {
  ClientOptions base;
  base.transport.connect_timeout = remote_options.connect_timeout;
  base.transport.request_timeout = remote_options.request_timeout;
  base.transport.min_transfer_rate = remote_options.min_transfer_rate;
  base.transport.low_speed_limit = remote_options.low_speed_limit;
  base.transport.max_connections = remote_options.max_connections;
  base.transport.ca_file = remote_options.ca_file;
  base.max_attempts = remote_options.max_attempts;
  base.initial_backoff = remote_options.initial_backoff;
  base.max_backoff = remote_options.max_backoff;
  base.call_timeout = remote_options.call_timeout;
  base.on_retry = remote_options.on_retry;
  return base;
}

Result<std::unique_ptr<remote::RemoteStore>> OpenRegistryRemoteStore(
    const std::string& url, const remote::RemoteOptions& remote_options) {
  ASSIGN_OR_RETURN(auto parsed, ParseRegistryRemoteUrl(url, RegistryClientOptions(remote_options)));
  ASSIGN_OR_RETURN(
      std::unique_ptr<RegistryClient> client,
      RegistryClient::Open(parsed.first.host, parsed.first.repository, std::move(parsed.second)));
  return std::unique_ptr<remote::RemoteStore>(
      std::make_unique<RegistryRemoteStore>(std::shared_ptr<RegistryClient>(std::move(client))));
}

Result<FoundArtifact> FindArtifact(RegistryClient& client, const Reference& ref,
                                   const std::string& platform) {
  ASSIGN_OR_RETURN(FetchedManifest top, client.GetManifest(ref.ManifestReference(), kMaxManifest));
  Result<Artifact> direct = ParseArtifactManifest(top.bytes, kMaxManifest);
  if (direct.ok()) return FoundArtifact{std::move(*direct), top.digest};
  if (direct.status().code() != Code::kNotFound) return direct.status().WithContext(ref.ToString());
  ASSIGN_OR_RETURN(ResolvedManifest image,
                   ResolveFetchedManifest(client, std::move(top), platform, kMaxManifest));
  const Digest subject = image.manifest.digest;
  // The referrers API (OCI distribution 1.1) first; registry 2.8 answers 404 and sends us to
  // the tag fallback, as does an answer without an imgfs artifact.
  ASSIGN_OR_RETURN(std::optional<std::string> api,
                   client.GetReferrers(subject, kArtifactType, kMaxManifest));
  if (api) {
    if (Result<BlobRef> found = LatestImgfsReferrer(*api, kMaxManifest); found.ok()) {
      ASSIGN_OR_RETURN(FetchedManifest m,
                       client.GetManifest(found->digest.ToString(), kMaxManifest));
      Result<Artifact> a = ParseArtifactManifest(m.bytes, kMaxManifest);
      if (a.ok()) {
        RETURN_IF_ERROR(CheckSubject(*a, m.digest, subject).WithContext(ref.ToString()));
        return FoundArtifact{std::move(*a), m.digest};
      }
    }
  }
  Result<FetchedManifest> referrers = client.GetManifest(ReferrersTag(subject), kMaxManifest);
  if (!referrers.ok()) {
    if (referrers.status().code() == Code::kNotFound)
      return Status::NotFound(ref.ToString() + " (manifest " + subject.ToString() +
                              ") has no imgfs artifact: push one with `imgfs push IMAGE " +
                              ref.ToString() + "`");
    return referrers.status();
  }
  Result<BlobRef> latest = LatestImgfsReferrer(referrers->bytes, kMaxManifest);
  if (!latest.ok())
    return latest.status().WithContext(ref.ToString() + ": referrers tag " + ReferrersTag(subject));
  ASSIGN_OR_RETURN(FetchedManifest m, client.GetManifest(latest->digest.ToString(), kMaxManifest));
  Result<Artifact> a = ParseArtifactManifest(m.bytes, kMaxManifest);
  if (!a.ok()) return a.status().WithContext("artifact " + m.digest.ToString());
  RETURN_IF_ERROR(CheckSubject(*a, m.digest, subject).WithContext(ref.ToString()));
  return FoundArtifact{std::move(*a), m.digest};
}

}  // namespace imgfs::registry
