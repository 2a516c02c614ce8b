// An OCI registry repository as an imgfs remote store (imgfs/remote_store.h), named
//   docker://HOST[:PORT]/REPO[?plain-http=1][&tls-verify=false]
// (the query carries --plain-http / --tls-verify=false from the CLI to the daemon). Packs and
// indexes are the repository's blobs: reads are blob GETs (Range for ReadBlobRange, redirects to
// blob storage followed), HasBlob a HEAD, WriteBlob an upload (skipped when present). The trace
// and compressed index of an index are layers of the imgfs artifact tagged imgfs-<index hex>
// (artifact.h); the artifact last read is kept, so a mount's compressed index and trace cost one
// manifest GET. WriteTrace and WriteCompressedIndex upload the blob only; the push
// (registry_push.h) names it in the artifact.
// Credentials come from the credential files (auth.h) unless ClientOptions has some.
// Thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "imgfs/registry/artifact.h"
#include "imgfs/registry/registry_client.h"
#include "imgfs/remote_store.h"

namespace imgfs::registry {

class RegistryRemoteStore final : public remote::RemoteStore {
 public:
  explicit RegistryRemoteStore(std::shared_ptr<RegistryClient> client)
      : client_(std::move(client)) {}

  std::string Describe() const override { return client_->Describe(); }
  Result<std::string> ReadBlobRange(const Digest& digest, uint64_t offset,
                                    uint64_t length) override {
    return client_->GetBlobRange(digest, offset, length);
  }
  Status StreamBlobRange(const Digest& digest, uint64_t offset, uint64_t length,
                         const std::function<Status(std::string_view)>& sink) override {
    return client_->StreamBlobRange(digest, offset, length, sink);
  }
  Result<std::string> ReadBlob(const Digest& digest, uint64_t max_size) override {
    return client_->GetBlob(digest, max_size);
  }
  // Tries a cross-repository mount from mount_from() first, when set.
  Status WriteBlob(const Digest& digest, std::string_view data) override;
  Result<bool> HasBlob(const Digest& digest) override { return client_->HasBlob(digest); }
  Result<std::string> ReadCompressedIndex(const Digest& index_digest, uint64_t max_size) override;
  // Whether the artifact of this index names a compressed index that the repository holds.
  Result<bool> HasCompressedIndex(const Digest& index_digest) override;
  Status WriteCompressedIndex(const Digest& index_digest, std::string_view frame) override;
  Result<std::string> ReadTrace(const Digest& index_digest, uint64_t max_size) override;
  Status WriteTrace(const Digest& index_digest, std::string_view data) override;

  // The blobs the last WriteTrace and WriteCompressedIndex uploaded.
  std::optional<BlobRef> written_trace() const;
  std::optional<BlobRef> written_compressed_index() const;
  // A repository of the same registry to mount blobs from before uploading them (push).
  void set_mount_from(std::string repository) { mount_from_ = std::move(repository); }
  uint64_t mounted_blobs() const { return mounted_.load(); }
  RegistryClient& client() { return *client_; }

 private:
  // The artifact tagged imgfs-<hex of index_digest>, checked to be that index's.
  Result<Artifact> ArtifactOf(const Digest& index_digest);

  std::shared_ptr<RegistryClient> client_;
  mutable std::mutex mu_;
  std::optional<BlobRef> written_trace_;             // GUARDED_BY(mu_)
  std::optional<BlobRef> written_compressed_index_;  // GUARDED_BY(mu_)
  std::optional<Artifact> last_artifact_;            // GUARDED_BY(mu_); the last ArtifactOf
  std::string mount_from_;                           // set before use, then read-only
  std::atomic<uint64_t> mounted_{0};
};

// Parses "docker://HOST/REPO[?plain-http=1][&tls-verify=false]" into a reference and options.
Result<std::pair<Reference, ClientOptions>> ParseRegistryRemoteUrl(const std::string& url,
                                                                   ClientOptions base);
// The remote-store URL of a repository with the options that must travel with it.
std::string RegistryRemoteUrl(const Reference& repo, const ClientOptions& options);

// The client options that carry a remote store's bounds (timeouts, retries, call_timeout).
ClientOptions RegistryClientOptions(const remote::RemoteOptions& options);
Result<std::unique_ptr<remote::RemoteStore>> OpenRegistryRemoteStore(
    const std::string& url, const remote::RemoteOptions& options);

// Finds the imgfs artifact for `ref`: the manifest `ref` names when it is one; else the image
// manifest it resolves to (an index narrowed by `platform`) and the newest imgfs artifact among
// its referrers (the referrers API, then the tag fallback sha256-<hex>), which must name that
// manifest as its subject (Corruption otherwise).
struct FoundArtifact {
  Artifact artifact;
  Digest manifest_digest;  // of the artifact manifest
};
Result<FoundArtifact> FindArtifact(RegistryClient& client, const Reference& ref,
                                   const std::string& platform);

}  // namespace imgfs::registry
