// A client of one repository of an OCI distribution registry (the distribution spec's /v2/ API):
// manifests by tag or digest, blobs whole, by range or streamed, uploads of blobs and
// manifests. No curl here: HTTP goes through an HttpTransport (http_transport.h).
//
// Authentication follows the registry: a 401 with `WWW-Authenticate: Bearer realm=...` sends the
// client to the token server (anonymously, or with Basic credentials when it has some) for a
// token scoped to this repository (pull, or pull,push); `Basic` challenges are answered with the
// credentials. Credentials come from ClientOptions::credentials, else from the credential files
// (auth.h). A token is fetched again shortly before its lifetime ends and whenever the registry
// answers 401 to it (once per request). Only a 401 from the registry's own origin (scheme, host,
// port) is answered: one from where a redirect led (blob storage) is PermissionDenied, so the
// credentials never go to a realm another host names. Likewise an upload's Location on another
// origin is sent no Authorization, and an http:// one of an https registry is refused.
//
// Retries: transport failures another attempt may not meet, 408, 429 and 5xx are retried with
// doubling backoff up to max_attempts, then Unavailable. A streamed blob resumes with
// `Range: bytes=N-` from the first byte not yet delivered (a server that ignores Range is
// skipped forward instead). 404 is NotFound, 401/403 after authenticating PermissionDenied
// with the registry's error message. A streamed blob's broken transfer earns its attempt back
// only when it delivered kStreamProgress bytes or more. call_timeout bounds every call but
// StreamBlob, attempts and waits included.
//
// Nothing received is trusted: GetManifest and GetBlob verify the SHA-256 of what they return
// against the digest asked for (or return it, for a tag); StreamBlob does not (its consumer
// hashes the stream), GetBlobRange cannot.
//
// Thread-safe: one client may serve many threads (the auth state is under a mutex).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/digest.h"
#include "core/status.h"
#include "imgfs/registry/auth.h"
#include "imgfs/registry/http_transport.h"
#include "imgfs/registry/reference.h"
#include "imgfs/remote_store.h"
#include "imgfs/retry_backoff.h"

namespace imgfs::registry {

struct ClientOptions {
  TransportOptions transport;
  bool plain_http = false;                 // http:// instead of https:// (--plain-http)
  std::optional<Credentials> credentials;  // --creds; else the credential files
  CredentialFiles credential_files = CredentialFiles::FromEnvironment();
  bool push = false;  // ask for pull,push tokens
  int max_attempts = 4;
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{5000};
  // Bound on one call but StreamBlob (whose consumer may pause it), every attempt and wait
  // included: no attempt starts, and none runs, past it. 0: none.
  std::chrono::milliseconds call_timeout{0};
  uint64_t upload_chunk_size = 16u << 20;  // blobs larger than this go up in PATCH chunks
  Clock* clock = &Clock::Real();           // token lifetimes, redirect reuse (tests: FakeClock)
  // Called before each retry with its cause (imgfs stats and metrics count them). May be empty.
  std::function<void(remote::RetryCause)> on_retry;
};

struct FetchedManifest {
  std::string media_type;  // the Content-Type the registry served it with
  std::string bytes;
  Digest digest;  // SHA-256 of bytes
};

// How many new bytes a broken StreamBlob transfer must have delivered to earn its attempt back.
inline constexpr uint64_t kStreamProgress = 64u << 10;

// How long a blob's redirect target is reused (signed blob-storage URLs live minutes or more).
inline constexpr std::chrono::seconds kRedirectReuse{60};

// Accept header value for manifests: OCI and Docker schema 2, images and indexes.
extern const char* const kManifestAccept;

class RegistryClient {
 public:
  // `transport` null: a curl transport with options.transport.
  static Result<std::unique_ptr<RegistryClient>> Open(
      const std::string& host, const std::string& repository, ClientOptions options,
      std::unique_ptr<HttpTransport> transport = nullptr);

  std::string Describe() const { return std::string(kDockerScheme) + host_ + "/" + repository_; }
  const std::string& host() const { return host_; }
  const std::string& repository() const { return repository_; }

  // The manifest or index named by a tag or "sha256:..." digest; at most max_size bytes. With a
  // digest, the bytes are verified against it.
  Result<FetchedManifest> GetManifest(const std::string& reference, uint64_t max_size);
  // PUT of a manifest under a tag or its digest.
  Status PutManifest(const std::string& reference, std::string_view media_type,
                     std::string_view bytes);

  // The referrers API (distribution spec 1.1): the image index of the manifests whose subject
  // is `digest`, filtered by artifactType; nullopt when the registry does not serve the API
  // (404), as registry 2.8 does not.
  Result<std::optional<std::string>> GetReferrers(const Digest& digest,
                                                  std::string_view artifact_type,
                                                  uint64_t max_size);

  Result<bool> HasBlob(const Digest& digest);
  // A whole blob of at most max_size bytes, verified against its digest.
  Result<std::string> GetBlob(const Digest& digest, uint64_t max_size);
  // Exactly [offset, offset + length) of a blob (a Range GET). A redirect (to blob storage) is
  // followed without our Authorization header, and its target reused for later ranges of that
  // blob for kRedirectReuse, or until it fails once (then the registry is asked again).
  Result<std::string> GetBlobRange(const Digest& digest, uint64_t offset, uint64_t length);
  // The same range handed to `sink` in order as it arrives. A retried attempt resumes where the
  // last one stopped, so the sink sees each byte once, and on success exactly `length` bytes.
  // The sink's error ends the read (no retry) and is returned.
  Status StreamBlobRange(const Digest& digest, uint64_t offset, uint64_t length,
                         const std::function<Status(std::string_view)>& sink);
  // The blob's bytes from `offset` on, in order, piece by piece to `sink`, resuming after broken
  // transfers. More than max_size bytes in all is Corruption. The sink's error ends the stream.
  Status StreamBlob(const Digest& digest, uint64_t offset, uint64_t max_size,
                    const std::function<Status(std::string_view)>& sink);
  // Uploads a blob unless the registry has it (HEAD). REQUIRES: SHA-256 of data is digest.
  // Returns true when it uploaded, false when the blob was there.
  Result<bool> PutBlob(const Digest& digest, std::string_view data);
  // Cross-repository mount: asks the registry to link blob `digest` from repository `from` of
  // the same registry (POST ...?mount=&from=). True when it did (201); false when it did not
  // (the registry lacks the blob there, or does not mount), and the caller uploads.
  Result<bool> MountBlob(const Digest& digest, const std::string& from);

 private:
  RegistryClient(std::string host, std::string repository, ClientOptions options,
                 std::unique_ptr<HttpTransport> transport);

  std::string BaseUrl() const;  // "https://host/v2/repo"
  std::string Absolute(const std::string& location) const;
  // Absolute(location), refused (PermissionDenied) when it is http:// and the registry https.
  Result<std::string> LocationUrl(const std::string& location, const std::string& what) const;
  // One request with authentication (re-authenticating once on 401); no retries. Every request
  // it makes (token fetches included) ends by `end` (nullopt: unbounded).
  Result<HttpResponse> SendAuthed(HttpRequest req,
                                  std::optional<Clock::time_point> end = std::nullopt);
  // SendAuthed to the registry's origin; a plain Execute, without Authorization, elsewhere.
  Result<HttpResponse> SendToLocation(const HttpRequest& req);
  // SendAuthed with retries of transient failures, within call_timeout.
  Result<HttpResponse> Send(HttpRequest req);
  // When a call started now must end (call_timeout); nullopt: unbounded.
  std::optional<Clock::time_point> CallEnd() const;
  // Limits `req` to the time left before `end`; Unavailable when none is left.
  Status LimitTo(std::optional<Clock::time_point> end, const std::string& what,
                 HttpRequest* req) const;
  // Reports a retry and waits as `backoff` says (at least RETRY_AFTER, up to max_backoff).
  // False, without waiting, when the wait would end past `end`.
  bool Backoff(remote::RetryBackoff* backoff, const Status& cause,
               std::chrono::seconds retry_after = std::chrono::seconds(0),
               std::optional<Clock::time_point> end = std::nullopt);
  // Answers a 401's challenges: fetches a token or sets up Basic auth.
  Status Authenticate(const HttpResponse& challenge_response, const std::string& failed_auth,
                      std::optional<Clock::time_point> end);
  Result<std::string> CurrentAuthorization(std::optional<Clock::time_point> end);
  Result<std::optional<Credentials>> GetCredentials();
  Status FetchToken(const Challenge& bearer, std::optional<Clock::time_point> end);
  Status UploadOnce(const Digest& digest, std::string_view data);
  // Where a range read stands: the bytes of [offset, offset + length) the sink has had.
  struct RangeProgress {
    uint64_t offset = 0;
    uint64_t length = 0;
    uint64_t delivered = 0;
    const std::function<Status(std::string_view)>* sink = nullptr;
    Status sink_error;                     // the sink's own failure: final
    std::optional<Clock::time_point> end;  // of the call (call_timeout)
  };
  // One try of the rest of a range; retryable failures are Unavailable.
  Status RangeOnce(const Digest& digest, const std::string& what, RangeProgress* range);
  // A Range GET of the rest of `range` from `url`, with our authorization (the registry) or
  // without (a redirect target). With `location`, a redirect is not followed: its target is
  // stored there (and nothing delivered).
  Status RangeFrom(const std::string& url, bool authed, const std::string& what,
                   RangeProgress* range, std::string* location);
  std::optional<std::string> CachedRedirect(const Digest& digest);
  void RememberRedirect(const Digest& digest, std::string url);
  void ForgetRedirect(const Digest& digest);

  const std::string host_;
  const std::string repository_;
  const ClientOptions options_;
  const std::string origin_;  // UrlOrigin(BaseUrl())
  const std::unique_ptr<HttpTransport> transport_;

  std::mutex mu_;  // guards the auth state below; never held across a request but the token's
  std::string authorization_;               // GUARDED_BY(mu_) header value
  std::optional<Challenge> bearer_;         // GUARDED_BY(mu_) the last one
  Clock::time_point token_refresh_at_;      // GUARDED_BY(mu_)
  bool credentials_loaded_ = false;         // GUARDED_BY(mu_)
  std::optional<Credentials> credentials_;  // GUARDED_BY(mu_)

  struct Redirect {
    std::string url;
    Clock::time_point expires;
  };
  std::mutex redirect_mu_;                // guards redirects_ only
  std::map<Digest, Redirect> redirects_;  // GUARDED_BY(redirect_mu_)
};

// The Status of a non-2xx response: NotFound (404), PermissionDenied (401, 403), Unavailable
// (408, 429, 5xx), IOError otherwise; the message carries the registry's own error text.
Status StatusOfResponse(const HttpResponse& r, const std::string& what);

}  // namespace imgfs::registry
