// OpenRemoteStore: picks the backend from the URL scheme.
#include "imgfs/remote_store.h"

#include "imgfs/remote_backends.h"

namespace imgfs::remote {

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
