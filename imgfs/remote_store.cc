// OpenRemoteStore: picks the backend from the URL scheme.
#include "imgfs/remote_store.h"

#include "core/zstd_frame.h"
#include "imgfs/remote_backends.h"

namespace imgfs::remote {

namespace {

// One fetch of an index's bytes, not checked: its compressed form while *compressed (cleared
// when there is none), else the blob.
Result<std::string> FetchIndexOnce(const IndexForms& forms, uint64_t max_size, bool* compressed) {
  if (*compressed) {
    Result<std::string> frame = forms.compressed(max_size);
    if (frame.ok()) {
      Result<std::string> bytes = DecompressFrame(*frame, max_size);
      if (!bytes.ok()) return bytes.status().WithContext("its compressed form");
      return bytes;
    }
    if (frame.status().code() != Code::kNotFound) return frame.status();
    *compressed = false;  // pushed by an older imgfs: the blob alone
  }
  return forms.blob(max_size);
}

}  // namespace

const char* RetryCauseName(RetryCause cause) {
  switch (cause) {
    case RetryCause::kNetwork:
      return "network";
    case RetryCause::kTimeout:
      return "timeout";
    case RetryCause::kServerError:
      return "server_error";
    case RetryCause::kThrottled:
      return "throttled";
    case RetryCause::kBadAnswer:
      return "bad_answer";
  }
  return "?";
}

Result<std::string> FetchIndex(const IndexForms& forms, const Digest& digest, uint64_t max_size,
                               int attempts, std::atomic<uint64_t>* refetches) {
  bool compressed = true;  // until there is no such form, or it fails once
  for (int attempt = 1;; ++attempt) {
    Result<std::string> bytes = FetchIndexOnce(forms, max_size, &compressed);
    if (bytes.ok() && Sha256(*bytes) == digest) return bytes;
    if (!bytes.ok() && bytes.status().code() != Code::kCorruption) return bytes.status();
    compressed = false;
    if (attempt >= attempts) {
      const std::string tries = " (" + std::to_string(attempt) + " tries)";
      const std::string name = "index " + digest.ToString() + " from " + forms.name;
      if (bytes.ok()) return Status::Corruption(name + " does not match its digest" + tries);
      return Status::Corruption(name + ": " + bytes.status().message() + tries);
    }
    if (refetches) (*refetches)++;
  }
}

Result<std::string> FetchIndex(RemoteStore& remote, const Digest& digest, uint64_t max_size,
                               int attempts, std::atomic<uint64_t>* refetches) {
  const IndexForms forms{
      remote.Describe(),
      [&](uint64_t max) { return remote.ReadCompressedIndex(digest, max); },
      [&](uint64_t max) { return remote.ReadBlob(digest, max); },
  };
  return FetchIndex(forms, digest, max_size, attempts, refetches);
}

Result<std::unique_ptr<RemoteStore>> OpenRemoteStore(const std::string& url,
                                                     const RemoteOptions& options) {
  if (options.max_attempts < 1 || options.max_connections < 1 ||
      options.connect_timeout.count() <= 0 || options.request_timeout.count() <= 0 ||
      options.initial_backoff.count() < 0 || options.call_timeout.count() < 0)
    return Status::InvalidArgument("remote store " + url + ": invalid RemoteOptions");
  std::string_view u = url;
  if (u.starts_with("file://")) {
    std::string path(u.substr(7));
    if (!path.starts_with("/"))
      return Status::InvalidArgument("remote store " + url +
                                     ": a file URL needs an absolute path (file:///DIR)");
    return remote::internal::OpenFileRemoteStore(path);
  }
  if (u.starts_with("/")) return remote::internal::OpenFileRemoteStore(url);
  if (u.starts_with("http://") || u.starts_with("https://"))
    return remote::internal::OpenHttpRemoteStore(url, options);
  return Status::InvalidArgument("remote store " + url +
                                 ": expected file:///DIR, /DIR, http://... or https://...");
}

}  // namespace imgfs::remote
