// The writing half of RegistryClient (registry_client.h): manifests and blob uploads.
#include "imgfs/registry/registry_client.h"

namespace imgfs::registry {

Result<HttpResponse> RegistryClient::SendToLocation(const HttpRequest& req) {
  // Like containerd's pusher: an upload handed to another origin goes without our credentials.
  if (UrlOrigin(req.url) == origin_) return SendAuthed(req);
  return transport_->Execute(req);
}

Status RegistryClient::PutManifest(const std::string& reference, std::string_view media_type,
                                   std::string_view bytes) {
  HttpRequest req;
  req.method = "PUT";
  req.url = BaseUrl() + "/manifests/" + reference;
  req.headers.push_back("Content-Type: " + std::string(media_type));
  req.body = bytes;
  ASSIGN_OR_RETURN(HttpResponse r, Send(req));
  if (r.status != 201 && r.status != 200 && r.status != 202)
    return StatusOfResponse(r, "PUT manifest " + Describe() + ":" + reference);
  return Status::Ok();
}

Status RegistryClient::UploadOnce(const Digest& digest, std::string_view data) {
  const std::string what = "upload of blob " + digest.ToString() + " to " + Describe();
  HttpRequest start;
  start.method = "POST";
  start.url = BaseUrl() + "/blobs/uploads/";
  start.headers.push_back("Content-Type: application/octet-stream");
  ASSIGN_OR_RETURN(HttpResponse r, SendAuthed(start));
  if (r.status != 202) return StatusOfResponse(r, what);
  std::string location = r.Header("location");
  if (location.empty()) return Status::IOError(what + ": no Location for the upload");
  size_t offset = 0;
  const uint64_t chunk = options_.upload_chunk_size;
  while (data.size() - offset > chunk) {  // the last piece goes with the closing PUT
    std::string_view piece = data.substr(offset, chunk);
    HttpRequest patch;
    patch.method = "PATCH";
    ASSIGN_OR_RETURN(patch.url, LocationUrl(location, what));
    patch.headers.push_back("Content-Type: application/octet-stream");
    patch.headers.push_back("Content-Range: " + std::to_string(offset) + "-" +
                            std::to_string(offset + piece.size() - 1));
    patch.body = piece;
    ASSIGN_OR_RETURN(r, SendToLocation(patch));
    if (r.status != 202)
      return StatusOfResponse(r, what + " (chunk at " + std::to_string(offset) + ")");
    location = r.Header("location");
    if (location.empty()) return Status::IOError(what + ": no Location after a chunk");
    offset += piece.size();
  }
  HttpRequest put;
  put.method = "PUT";
  ASSIGN_OR_RETURN(std::string url, LocationUrl(location, what));
  put.url = url + (url.find('?') == std::string::npos ? "?" : "&") +
            "digest=" + UrlEncode(digest.ToString());
  put.headers.push_back("Content-Type: application/octet-stream");
  put.body = data.substr(offset);
  ASSIGN_OR_RETURN(r, SendToLocation(put));
  if (r.status != 201) return StatusOfResponse(r, what);
  return Status::Ok();
}

Result<bool> RegistryClient::MountBlob(const Digest& digest, const std::string& from) {
  HttpRequest req;
  req.method = "POST";
  req.url = BaseUrl() + "/blobs/uploads/?mount=" + UrlEncode(digest.ToString()) +
            "&from=" + UrlEncode(from);
  req.headers.push_back("Content-Type: application/octet-stream");
  ASSIGN_OR_RETURN(HttpResponse r, Send(req));
  if (r.status == 201) return true;
  // 202: the registry opened an ordinary upload session instead; it is left to expire.
  if (r.status == 202) return false;
  return StatusOfResponse(
      r, "mount of blob " + digest.ToString() + " from " + from + " into " + Describe());
}

Result<bool> RegistryClient::PutBlob(const Digest& digest, std::string_view data) {
  ASSIGN_OR_RETURN(bool present, HasBlob(digest));
  if (present) return false;
  remote::RetryBackoff backoff(options_.initial_backoff, options_.max_backoff);
  for (int attempt = 1;; ++attempt) {
    // A failed session is abandoned whole: the registry drops unfinished uploads.
    Status s = UploadOnce(digest, data);
    if (s.ok()) return true;
    if (!s.retryable() || attempt >= options_.max_attempts) return s;
    Backoff(&backoff, s);
  }
}

}  // namespace imgfs::registry
