#include "imgfs/registry/registry_client.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/numbers.h"

namespace imgfs::registry {
namespace {

constexpr uint64_t kMaxTokenAnswer = 1u << 20;

bool Retryable(long status) { return status == 408 || status == 429 || status >= 500; }

// The registry's error text from an error body ({"errors":[{"code","message"}]}), if any.
std::string RegistryErrorText(const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return "";
  auto errs = j.find("errors");
  if (errs == j.end() || !errs->is_array() || errs->empty() || !(*errs)[0].is_object()) return "";
  const nlohmann::json& e = (*errs)[0];
  auto str = [&](const char* key) {
    auto it = e.find(key);
    return it != e.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::string code = str("code"), message = str("message");
  std::string text = code.empty() ? message : message.empty() ? code : code + ": " + message;
  if (text.size() > 200) text.resize(200);
  for (char& c : text)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  return text;
}

}  // namespace

const char* const kManifestAccept =
    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

// The cause of a retryable failure, from what StatusOfResponse and the transport say.
remote::RetryCause RetryCauseOf(const Status& s) {
  const std::string& m = s.message();
  if (s.code() == Code::kCorruption) return remote::RetryCause::kBadAnswer;
  if (m.find("HTTP 429") != std::string::npos) return remote::RetryCause::kThrottled;
  if (m.find("HTTP ") != std::string::npos) return remote::RetryCause::kServerError;
  if (m.find("timed out") != std::string::npos || m.find("Timeout") != std::string::npos)
    return remote::RetryCause::kTimeout;
  return remote::RetryCause::kNetwork;
}

// A "Retry-After: SECONDS" header's delay; 0 when absent or a date.
std::chrono::seconds RetryAfterOf(const Result<HttpResponse>& r) {
  if (!r.ok()) return std::chrono::seconds(0);
  const std::string v = r->Header("retry-after");
  if (v.empty()) return std::chrono::seconds(0);
  Result<uint64_t> secs = ParseUint64(v, 0, UINT64_MAX, "Retry-After");
  if (!secs.ok()) return std::chrono::seconds(0);
  return std::chrono::seconds(std::min<uint64_t>(*secs, 3600));
}

Status StatusOfResponse(const HttpResponse& r, const std::string& what) {
  std::string msg = what + ": HTTP " + std::to_string(r.status);
  std::string text = RegistryErrorText(r.body);
  if (!text.empty()) msg += " (" + text + ")";
  if (r.status == 404) return Status::NotFound(msg);
  if (r.status == 401 || r.status == 403) return Status::PermissionDenied(msg);
  if (Retryable(r.status)) return Status::Unavailable(msg);
  return Status::IOError(msg);
}

Result<std::unique_ptr<RegistryClient>> RegistryClient::Open(
    const std::string& host, const std::string& repository, ClientOptions options,
    std::unique_ptr<HttpTransport> transport) {
  if (options.max_attempts < 1 || options.upload_chunk_size < 1)
    return Status::InvalidArgument("registry client: invalid options");
  if (!transport) {
    TransportOptions transport_options = options.transport;
    transport_options.http_redirects = options.plain_http;
    ASSIGN_OR_RETURN(transport, NewCurlTransport(transport_options));
  }
  return std::unique_ptr<RegistryClient>(
      new RegistryClient(host, repository, std::move(options), std::move(transport)));
}

RegistryClient::RegistryClient(std::string host, std::string repository, ClientOptions options,
                               std::unique_ptr<HttpTransport> transport)
    : host_(std::move(host)),
      repository_(std::move(repository)),
      options_(std::move(options)),
      origin_(UrlOrigin(BaseUrl())),
      transport_(std::move(transport)) {}

std::string RegistryClient::BaseUrl() const {
  return std::string(options_.plain_http ? "http://" : "https://") + host_ + "/v2/" + repository_;
}

std::string RegistryClient::Absolute(const std::string& location) const {
  if (location.starts_with("http://") || location.starts_with("https://")) return location;
  std::string origin = std::string(options_.plain_http ? "http://" : "https://") + host_;
  if (location.starts_with("/")) return origin + location;
  return origin + "/" + location;
}

Result<std::string> RegistryClient::LocationUrl(const std::string& location,
                                                const std::string& what) const {
  std::string url = Absolute(location);
  if (!options_.plain_http && !url.starts_with("https://"))
    return Status::PermissionDenied(what + ": the registry sent us to plain-http " +
                                    RedactUrl(url.substr(0, 200)) +
                                    " (allowed only with --plain-http)");
  return url;
}

std::optional<Clock::time_point> RegistryClient::CallEnd() const {
  if (options_.call_timeout.count() <= 0) return std::nullopt;
  return options_.clock->Now() + options_.call_timeout;
}

Status RegistryClient::LimitTo(std::optional<Clock::time_point> end, const std::string& what,
                               HttpRequest* req) const {
  if (!end) return Status::Ok();
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*end - options_.clock->Now());
  if (left.count() <= 0)
    return Status::Unavailable(what + ": out of time (" +
                               std::to_string(options_.call_timeout.count()) + " ms per call)");
  req->time_limit = left;
  return Status::Ok();
}

bool RegistryClient::Backoff(remote::RetryBackoff* backoff, const Status& cause,
                             std::chrono::seconds retry_after,
                             std::optional<Clock::time_point> end) {
  const auto wait = backoff->Next(retry_after);
  if (end && options_.clock->Now() + wait >= *end) return false;
  if (options_.on_retry) options_.on_retry(RetryCauseOf(cause));
  std::this_thread::sleep_for(wait);
  return true;
}

Result<std::optional<Credentials>> RegistryClient::GetCredentials() {
  // REQUIRES: mu_ held.
  if (!credentials_loaded_) {
    if (options_.credentials) {
      credentials_ = options_.credentials;
    } else {
      ASSIGN_OR_RETURN(credentials_, FindCredentials(options_.credential_files, host_));
    }
    credentials_loaded_ = true;
  }
  return credentials_;
}

Status RegistryClient::FetchToken(const Challenge& bearer, std::optional<Clock::time_point> end) {
  // REQUIRES: mu_ held (concurrent requests wait for one token instead of each fetching one).
  auto realm_it = bearer.params.find("realm");
  if (realm_it == bearer.params.end() || realm_it->second.empty())
    return Status::PermissionDenied(Describe() + ": Bearer challenge without a realm");
  const std::string& realm = realm_it->second;
  if (!realm.starts_with("https://") && !realm.starts_with("http://"))
    return Status::PermissionDenied(Describe() + ": token realm \"" + realm.substr(0, 200) +
                                    "\" is not an http(s) URL");
  // Credentials go to the realm: never in clear text unless plain http was asked for.
  if (realm.starts_with("http://") && !options_.plain_http)
    return Status::PermissionDenied(Describe() + ": token realm " +
                                    RedactUrl(realm.substr(0, 200)) +
                                    " is plain http (allowed only with --plain-http)");
  std::string url = realm + (realm.find('?') == std::string::npos ? "?" : "&");
  std::vector<std::string> query;
  if (auto s = bearer.params.find("service"); s != bearer.params.end())
    query.push_back("service=" + UrlEncode(s->second));
  query.push_back(
      "scope=" + UrlEncode("repository:" + repository_ + (options_.push ? ":pull,push" : ":pull")));
  for (size_t i = 0; i < query.size(); ++i) url += (i ? "&" : "") + query[i];
  HttpRequest req;
  req.url = url;
  req.max_body = kMaxTokenAnswer;
  ASSIGN_OR_RETURN(std::optional<Credentials> creds, GetCredentials());
  if (creds)
    req.headers.push_back("Authorization: Basic " +
                          Base64Encode(creds->username + ":" + creds->password));
  const std::string what = "token for " + Describe() + " from " + RedactUrl(realm);
  remote::RetryBackoff backoff(options_.initial_backoff, options_.max_backoff);
  for (int attempt = 1;; ++attempt) {
    RETURN_IF_ERROR(LimitTo(end, what, &req));
    Result<HttpResponse> r = transport_->Execute(req);
    Status failed = r.ok() ? Status::Ok() : r.status();
    if (r.ok() && r->status >= 200 && r->status <= 299) {
      Result<Token> token = ParseTokenResponse(r->body);
      if (!token.ok()) return token.status().WithContext(what);
      authorization_ = "Bearer " + token->value;
      // Fetched again when 90% of its lifetime is over.
      token_refresh_at_ = options_.clock->Now() + token->lifetime * 9 / 10;
      bearer_ = bearer;
      return Status::Ok();
    }
    if (r.ok()) failed = StatusOfResponse(*r, what);
    if (!failed.retryable() || attempt >= options_.max_attempts) return failed.WithContext(what);
    if (!Backoff(&backoff, failed, RetryAfterOf(r), end))
      return Status::Unavailable(failed.WithContext(what).message() + " (" +
                                 std::to_string(attempt) + " attempts, out of time)");
  }
}

Result<std::string> RegistryClient::CurrentAuthorization(std::optional<Clock::time_point> end) {
  std::lock_guard lock(mu_);
  if (bearer_ && options_.clock->Now() >= token_refresh_at_)
    RETURN_IF_ERROR(FetchToken(*bearer_, end));
  return authorization_;
}

Status RegistryClient::Authenticate(const HttpResponse& r, const std::string& failed_auth,
                                    std::optional<Clock::time_point> end) {
  std::lock_guard lock(mu_);
  if (authorization_ != failed_auth) return Status::Ok();  // another thread already did
  std::vector<Challenge> challenges = ParseWwwAuthenticate(r.Header("www-authenticate"));
  for (const Challenge& c : challenges)
    if (c.scheme == "bearer") return FetchToken(c, end);
  for (const Challenge& c : challenges) {
    if (c.scheme != "basic") continue;
    ASSIGN_OR_RETURN(std::optional<Credentials> creds, GetCredentials());
    if (!creds)
      return Status::PermissionDenied(Describe() +
                                      ": the registry wants a user name and password (--creds "
                                      "USER:PASS or a credentials file)");
    std::string header = "Basic " + Base64Encode(creds->username + ":" + creds->password);
    if (header == failed_auth)
      return Status::PermissionDenied(Describe() + ": the registry refused the credentials for " +
                                      creds->username);
    authorization_ = header;
    bearer_.reset();
    return Status::Ok();
  }
  return Status::PermissionDenied(Describe() + ": HTTP 401 without a Bearer or Basic challenge");
}

Result<HttpResponse> RegistryClient::SendAuthed(HttpRequest req,
                                                std::optional<Clock::time_point> end) {
  const size_t plain_headers = req.headers.size();
  for (int round = 0;; ++round) {
    ASSIGN_OR_RETURN(std::string auth, CurrentAuthorization(end));
    req.headers.resize(plain_headers);
    if (!auth.empty()) req.headers.push_back("Authorization: " + auth);
    RETURN_IF_ERROR(LimitTo(end, req.method + " " + RedactUrl(req.url), &req));
    ASSIGN_OR_RETURN(HttpResponse r, transport_->Execute(req));
    if (r.status != 401) return r;
    // A redirect (to blob storage) may end at a host that asks for credentials: never ours.
    const std::string answered_by = UrlOrigin(r.effective_url.empty() ? req.url : r.effective_url);
    if (answered_by != origin_)
      return Status::PermissionDenied(Describe() + ": HTTP 401 from " +
                                      (answered_by.empty() ? "an unknown host" : answered_by) +
                                      ", where a redirect led; the registry's credentials are "
                                      "not sent there");
    // Twice at most: a first 401 asks for credentials or a token; one to a token is answered
    // with a fresh token (expired, revoked); a third is final.
    if (round == 2) {
      std::string text = StatusOfResponse(r, "").message();
      return Status::PermissionDenied(Describe() +
                                      ": the registry refused the credentials or "
                                      "token it asked for" +
                                      text.substr(text.find(':') + 1));
    }
    RETURN_IF_ERROR(Authenticate(r, auth, end));
  }
}

Result<HttpResponse> RegistryClient::Send(HttpRequest req) {
  const std::optional<Clock::time_point> end = CallEnd();
  remote::RetryBackoff backoff(options_.initial_backoff, options_.max_backoff);
  for (int attempt = 1;; ++attempt) {
    Result<HttpResponse> r = SendAuthed(req, end);
    bool again = r.ok() ? Retryable(r->status) : r.status().retryable();
    bool in_time = again && attempt < options_.max_attempts &&
                   Backoff(&backoff, r.ok() ? StatusOfResponse(*r, "registry") : r.status(),
                           RetryAfterOf(r), end);
    if (!in_time) {
      if (!r.ok() && again && attempt > 1)
        return Status::Unavailable(r.status().message() + " (" + std::to_string(attempt) +
                                   " attempts" +
                                   (attempt < options_.max_attempts ? ", out of time" : "") + ")");
      return r;
    }
  }
}

Result<FetchedManifest> RegistryClient::GetManifest(const std::string& reference,
                                                    uint64_t max_size) {
  const std::string what =
      "manifest " + Describe() + (reference.starts_with("sha256:") ? "@" : ":") + reference;
  HttpRequest req;
  req.url = BaseUrl() + "/manifests/" + reference;
  req.headers.push_back(std::string("Accept: ") + kManifestAccept);
  req.max_body = max_size;
  ASSIGN_OR_RETURN(HttpResponse r, Send(req));
  if (r.status != 200) return StatusOfResponse(r, what);
  FetchedManifest m;
  m.media_type = r.Header("content-type");
  if (size_t semi = m.media_type.find(';'); semi != std::string::npos) m.media_type.resize(semi);
  m.digest = Sha256(r.body);
  if (reference.starts_with("sha256:") && m.digest.ToString() != reference)
    return Status::Corruption(what + ": the registry served bytes with digest " +
                              m.digest.ToString());
  std::string header_digest = r.Header("docker-content-digest");
  if (header_digest.starts_with("sha256:") && header_digest != m.digest.ToString())
    return Status::Corruption(what + ": Docker-Content-Digest " + header_digest.substr(0, 80) +
                              " is not the digest of the bytes served (" + m.digest.ToString() +
                              ")");
  m.bytes = std::move(r.body);
  return m;
}

Result<std::optional<std::string>> RegistryClient::GetReferrers(const Digest& digest,
                                                                std::string_view artifact_type,
                                                                uint64_t max_size) {
  HttpRequest req;
  req.url =
      BaseUrl() + "/referrers/" + digest.ToString() + "?artifactType=" + UrlEncode(artifact_type);
  req.headers.push_back("Accept: application/vnd.oci.image.index.v1+json");
  req.max_body = max_size;
  ASSIGN_OR_RETURN(HttpResponse r, Send(req));
  if (r.status == 404) return std::optional<std::string>();
  if (r.status != 200) return StatusOfResponse(r, "referrers of " + digest.ToString());
  return std::optional<std::string>(std::move(r.body));
}

Result<bool> RegistryClient::HasBlob(const Digest& digest) {
  HttpRequest req;
  req.method = "HEAD";
  req.url = BaseUrl() + "/blobs/" + digest.ToString();
  ASSIGN_OR_RETURN(HttpResponse r, Send(req));
  if (r.status == 200) return true;
  if (r.status == 404) return false;
  return StatusOfResponse(r, "HEAD blob " + digest.ToString() + " in " + Describe());
}

Result<std::string> RegistryClient::GetBlob(const Digest& digest, uint64_t max_size) {
  const std::string what = "blob " + digest.ToString() + " of " + Describe();
  HttpRequest req;
  req.url = BaseUrl() + "/blobs/" + digest.ToString();
  req.max_body = max_size;
  ASSIGN_OR_RETURN(HttpResponse r, Send(req));
  if (r.status != 200) return StatusOfResponse(r, what);
  if (Sha256(r.body) != digest) return Status::Corruption(what + ": content has another digest");
  return std::move(r.body);
}

Result<std::string> RegistryClient::GetBlobRange(const Digest& digest, uint64_t offset,
                                                 uint64_t length) {
  std::string out;
  if (length <= (1ull << 30)) out.reserve(length);
  RETURN_IF_ERROR(StreamBlobRange(digest, offset, length, [&](std::string_view piece) {
    out.append(piece);
    return Status::Ok();
  }));
  return out;
}

Status RegistryClient::StreamBlobRange(const Digest& digest, uint64_t offset, uint64_t length,
                                       const std::function<Status(std::string_view)>& sink) {
  const std::string what = "blob " + digest.ToString() + " of " + Describe() + " (bytes " +
                           std::to_string(offset) + "+" + std::to_string(length) + ")";
  if (length == 0) return Status::Ok();
  if (length > (1ull << 30) || offset > UINT64_MAX - length)
    return Status::InvalidArgument(what + ": range refused");
  RangeProgress range{offset, length, 0, &sink, Status::Ok(), CallEnd()};
  remote::RetryBackoff backoff(options_.initial_backoff, options_.max_backoff);
  for (int attempt = 1;; ++attempt) {
    Status s = RangeOnce(digest, what, &range);
    if (s.ok() || !range.sink_error.ok()) return s;
    if (!s.retryable() || attempt >= options_.max_attempts) return s;
    if (!Backoff(&backoff, s, std::chrono::seconds(0), range.end))
      return Status::Unavailable(s.message() + " (" + std::to_string(attempt) +
                                 " attempts, out of time)");
  }
}

Status RegistryClient::RangeOnce(const Digest& digest, const std::string& what,
                                 RangeProgress* range) {
  if (std::optional<std::string> target = CachedRedirect(digest)) {
    Status s = RangeFrom(*target, /*authed=*/false, what, range, nullptr);
    if (s.ok() || !range->sink_error.ok()) return s;
    ForgetRedirect(digest);  // expired, revoked or gone: the registry says where it is now
  }
  const std::string url = BaseUrl() + "/blobs/" + digest.ToString();
  std::string location;
  Status s = RangeFrom(url, /*authed=*/true, what, range, &location);
  if (!s.ok() || location.empty()) return s;
  ASSIGN_OR_RETURN(std::string target, LocationUrl(location, what));
  RememberRedirect(digest, target);
  return RangeFrom(target, /*authed=*/false, what, range, nullptr);
}

Status RegistryClient::RangeFrom(const std::string& url, bool authed, const std::string& what,
                                 RangeProgress* range, std::string* location) {
  // This attempt asks for what the sink has not had yet.
  const uint64_t from = range->offset + range->delivered;
  const uint64_t end = range->offset + range->length;
  HttpRequest req;
  req.url = url;
  req.follow_redirects = location == nullptr;  // the registry's redirect: ours to remember
  req.headers.push_back("Range: bytes=" + std::to_string(from) + "-" + std::to_string(end - 1));
  // The deadline allows for a server that ignores Range, which sends [0, end) first.
  req.expected_bytes = end;
  RETURN_IF_ERROR(LimitTo(range->end, what, &req));
  uint64_t pos = 0;  // a 200's position in the whole blob
  bool slice_done = false;
  auto deliver = [&](std::string_view piece) -> Status {
    if (Status s = (*range->sink)(piece); !s.ok()) {
      range->sink_error = s;
      return s;
    }
    range->delivered += piece.size();
    return Status::Ok();
  };
  // A server that ignores Range sends the whole blob: keep our slice of it.
  req.on_body = [&](const HttpResponse& head, std::string_view piece) -> Status {
    if (head.status == 206) {
      if (pos == 0) {
        std::string cr = head.Header("content-range");
        std::string want = "bytes " + std::to_string(from) + "-";
        if (!cr.empty() && !cr.starts_with(want))
          return Status::Corruption(what + ": Content-Range \"" + cr.substr(0, 80) +
                                    "\" is not the range asked for");
      }
      pos += piece.size();
      if (range->delivered + piece.size() > range->length)
        return Status::Corruption(what + ": the server sent more bytes than asked");
      return deliver(piece);
    }
    const uint64_t lo = std::max(pos, from), hi = std::min<uint64_t>(pos + piece.size(), end);
    if (lo < hi) RETURN_IF_ERROR(deliver(piece.substr(lo - pos, hi - lo)));
    pos += piece.size();
    if (pos >= end) {
      slice_done = true;
      return Status::Internal("slice complete");  // stops the transfer; not an error
    }
    return Status::Ok();
  };
  Result<HttpResponse> r = authed ? SendAuthed(req, range->end) : transport_->Execute(req);
  if (!range->sink_error.ok()) return range->sink_error;
  if (!r.ok() && slice_done && range->delivered == range->length) return Status::Ok();
  if (!r.ok()) return r.status();
  const long s = r->status;
  if (location && (s == 301 || s == 302 || s == 303 || s == 307 || s == 308)) {
    *location = r->Header("location");
    if (location->empty())
      return Status::IOError(what + ": HTTP " + std::to_string(s) + " without a Location");
    return Status::Ok();
  }
  if (s != 206 && s != 200) return StatusOfResponse(*r, what);
  if (range->delivered != range->length)
    return Status::Corruption(what + ": got " + std::to_string(range->delivered) + " bytes");
  return Status::Ok();
}

std::optional<std::string> RegistryClient::CachedRedirect(const Digest& digest) {
  std::lock_guard lock(redirect_mu_);
  auto it = redirects_.find(digest);
  if (it == redirects_.end()) return std::nullopt;
  if (options_.clock->Now() >= it->second.expires) {
    redirects_.erase(it);
    return std::nullopt;
  }
  return it->second.url;
}

void RegistryClient::RememberRedirect(const Digest& digest, std::string url) {
  std::lock_guard lock(redirect_mu_);
  if (redirects_.size() >= 4096) redirects_.clear();  // bounded; refetched when needed
  redirects_[digest] = {std::move(url), options_.clock->Now() + kRedirectReuse};
}

void RegistryClient::ForgetRedirect(const Digest& digest) {
  std::lock_guard lock(redirect_mu_);
  redirects_.erase(digest);
}

Status RegistryClient::StreamBlob(const Digest& digest, uint64_t offset, uint64_t max_size,
                                  const std::function<Status(std::string_view)>& sink) {
  const std::string what = "blob " + digest.ToString() + " of " + Describe();
  uint64_t delivered = offset;  // the blob's bytes handed to the sink (or skipped) so far
  uint64_t pos = 0;             // position of the current response's next byte in the blob
  // A server that ignores Range resends what we have: that much has a deadline, at the
  // transport's minimum rate (the rest is the consumer's pace).
  Clock::time_point skip_deadline;
  HttpRequest req;
  req.url = BaseUrl() + "/blobs/" + digest.ToString();
  req.on_body = [&](const HttpResponse& head, std::string_view piece) -> Status {
    if (head.status == 206 && pos == 0 && delivered > 0) {
      std::string cr = head.Header("content-range");
      if (!cr.starts_with("bytes " + std::to_string(delivered) + "-"))
        return Status::Corruption(what + ": Content-Range \"" + cr.substr(0, 80) +
                                  "\" does not resume at byte " + std::to_string(delivered));
      pos = delivered;
    }
    const uint64_t start = pos;
    pos += piece.size();
    if (pos <= delivered) {  // a 200 resending what we have
      if (options_.clock->Now() > skip_deadline)
        return Status::Unavailable(what + ": timed out skipping the " + std::to_string(delivered) +
                                   " bytes already delivered (the server ignores Range)");
      return Status::Ok();
    }
    piece.remove_prefix(delivered - std::min(delivered, start));
    if (delivered + piece.size() > max_size)
      return Status::Corruption(what + ": longer than " + std::to_string(max_size) + " bytes");
    delivered += piece.size();
    return sink(piece);
  };
  remote::RetryBackoff backoff(options_.initial_backoff, options_.max_backoff);
  int failures = 0;
  while (true) {
    req.headers.clear();
    if (delivered > 0) req.headers.push_back("Range: bytes=" + std::to_string(delivered) + "-");
    pos = 0;
    const uint64_t before = delivered;
    skip_deadline =
        options_.clock->Now() + remote::TransferTime(options_.transport.request_timeout, delivered,
                                                     options_.transport.min_transfer_rate);
    Result<HttpResponse> r = SendAuthed(req);
    if (r.ok() && (r->status == 200 || r->status == 206)) return Status::Ok();
    if (r.ok() && r->status == 416 && delivered > 0)
      return Status::Ok();  // asked past the end: everything was delivered already
    bool again = r.ok() ? Retryable(r->status) : r.status().retryable();
    // Progress earns a broken stream its attempts back (only failures in a row count), but
    // only real progress: a server sending a few bytes per connection gets max_attempts.
    failures = delivered >= before + kStreamProgress ? 1 : failures + 1;
    if (!again || failures >= options_.max_attempts) {
      if (!r.ok()) return r.status();
      return StatusOfResponse(*r, what);
    }
    if (delivered == before)
      Backoff(&backoff, r.ok() ? StatusOfResponse(*r, what) : r.status(), RetryAfterOf(r));
  }
}

}  // namespace imgfs::registry
