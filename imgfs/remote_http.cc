// The http(s):// remote store, over libcurl (shared pieces in curl_handles.h).
//
// Objects are BASE/blobs/sha256/<hex> and BASE/traces/sha256/<hex>. Reads are GETs (ranged with
// "Range: bytes=a-b"), existence is a HEAD, writes are PUTs with Content-Length (nginx with
// `dav_methods PUT`, any WebDAV or object store that takes PUT).
//
// Connections: a pool of at most max_connections curl easy handles; each keeps its connections
// alive between calls, so a busy reader reuses warm TCP/TLS connections. A call waits for a free
// handle. Every attempt is bounded by connect_timeout, a deadline (request_timeout plus the size
// at min_transfer_rate) and a low-speed cut-off; refused/reset connections, timeouts, 408, 429
// and 5xx are retried with doubling backoff (at least a Retry-After's seconds, up to max_backoff)
// up to max_attempts and within call_timeout, then reported as Unavailable; a ranged answer that
// is not the range (short, wrong Content-Range) is retried the same way and stays Corruption.
// Each retry is reported to RemoteOptions::on_retry with its cause.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "imgfs/curl_handles.h"
#include "imgfs/http_response.h"
#include "imgfs/remote_backends.h"
#include "imgfs/retry_backoff.h"

namespace imgfs::remote::internal {
namespace {

using curl::EasyHandle;
using curl::GlobalInit;
using curl::HandlePool;
using curl::IsTransientError;
using curl::Lib;
using curl::NoProxyList;
using curl::RedactUrl;
using curl::Slist;

enum class Method { kGet, kHead, kPut };

const char* MethodName(Method m) {
  switch (m) {
    case Method::kGet:
      return "GET";
    case Method::kHead:
      return "HEAD";
    case Method::kPut:
      return "PUT";
  }
  return "?";
}

struct Request {
  Method method = Method::kGet;
  std::string url;
  bool ranged = false;  // GET of [offset, offset + length), length > 0
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t max_body = 0;    // whole GET: more than this is ResourceExhausted
  std::string_view upload;  // PUT body

  std::string Name() const {
    std::string s = std::string(MethodName(method)) + " " + url;
    if (ranged)
      s += " (bytes " + std::to_string(offset) + "-" + std::to_string(offset + length - 1) + ")";
    return s;
  }
};

struct Response {
  long status = 0;
  std::string body;
};

// State of one attempt, shared with the curl callbacks.
struct Transfer {
  Transfer(const Request& r, const ExpectedBody& expected) : req(&r), response(expected) {}
  const Request* req;
  HttpResponseReader response;
  size_t upload_pos = 0;
};

size_t HeaderCallback(char* data, size_t size, size_t nitems, void* user) noexcept {
  static_cast<Transfer*>(user)->response.OnHeaderLine(std::string_view(data, size * nitems));
  return size * nitems;
}

size_t WriteCallback(char* data, size_t size, size_t nmemb, void* user) noexcept {
  return static_cast<Transfer*>(user)->response.OnBody(data, size * nmemb);
}

size_t ReadCallback(char* buffer, size_t size, size_t nitems, void* user) noexcept {
  auto* t = static_cast<Transfer*>(user);
  std::string_view rest = t->req->upload.substr(std::min(t->upload_pos, t->req->upload.size()));
  size_t n = std::min(rest.size(), size * nitems);
  std::memcpy(buffer, rest.data(), n);
  t->upload_pos += n;
  return n;
}

int SeekCallback(void* user, curl_off_t offset, int origin) noexcept {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<uint64_t>(offset) > t->req->upload.size())
    return CURL_SEEKFUNC_CANTSEEK;
  t->upload_pos = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

class HttpRemoteStore final : public RemoteStore {
 public:
  HttpRemoteStore(std::string base, const RemoteOptions& options)
      : base_(std::move(base)),
        described_(RedactUrl(base_)),
        options_(options),
        pool_(options.max_connections),
        no_proxy_(NoProxyList()) {}

  std::string Describe() const override { return described_; }

  Result<std::string> ReadBlobRange(const Digest& digest, uint64_t offset,
                                    uint64_t length) override {
    Request req;
    req.url = UrlOf(BlobObjectName(digest));
    if (length > kMaxReadSize || offset > UINT64_MAX - length)
      return Status::InvalidArgument(RedactUrl(req.url) + ": range read of " +
                                     std::to_string(length) + " bytes at " +
                                     std::to_string(offset) + " refused");
    if (length == 0) return std::string();
    req.ranged = true;
    req.offset = offset;
    req.length = length;
    ASSIGN_OR_RETURN(Response r, Execute(req));
    if (r.body.size() != length)
      return Status::Corruption(Name(req) + ": got " + std::to_string(r.body.size()) + " of " +
                                std::to_string(length) + " bytes");
    return std::move(r.body);
  }

  Result<std::string> ReadBlob(const Digest& digest, uint64_t max_size) override {
    return ReadWhole(UrlOf(BlobObjectName(digest)), max_size);
  }

  Status WriteBlob(const Digest& digest, std::string_view data) override {
#ifndef NDEBUG
    if (Sha256(data) != digest)
      return Status::InvalidArgument("WriteBlob " + digest.ToString() +
                                     ": data has another digest");
#endif
    ASSIGN_OR_RETURN(bool exists, HasBlob(digest));
    if (exists) return Status::Ok();
    return Put(UrlOf(BlobObjectName(digest)), data);
  }

  Result<bool> HasBlob(const Digest& digest) override {
    return Exists(UrlOf(BlobObjectName(digest)));
  }

  Result<std::string> ReadCompressedIndex(const Digest& index_digest, uint64_t max_size) override {
    return ReadWhole(UrlOf(CompressedIndexObjectName(index_digest)), max_size);
  }

  Result<bool> HasCompressedIndex(const Digest& index_digest) override {
    return Exists(UrlOf(CompressedIndexObjectName(index_digest)));
  }

  Status WriteCompressedIndex(const Digest& index_digest, std::string_view frame) override {
    return Put(UrlOf(CompressedIndexObjectName(index_digest)), frame);
  }

  Result<std::string> ReadTrace(const Digest& index_digest, uint64_t max_size) override {
    return ReadWhole(UrlOf(TraceObjectName(index_digest)), max_size);
  }

  Status WriteTrace(const Digest& index_digest, std::string_view data) override {
    return Put(UrlOf(TraceObjectName(index_digest)), data);
  }

 private:
  std::string UrlOf(const std::string& object) const { return base_ + "/" + object; }
  static std::string Name(const Request& req) { return RedactUrl(req.Name()); }

  Result<std::string> ReadWhole(const std::string& url, uint64_t max_size) {
    Request req;
    req.url = url;
    req.max_body = std::min(max_size, kMaxReadSize);
    ASSIGN_OR_RETURN(Response r, Execute(req));
    return std::move(r.body);
  }

  Result<bool> Exists(const std::string& url) {
    Request req;
    req.method = Method::kHead;
    req.url = url;
    Result<Response> r = Execute(req);
    if (r.ok()) return true;
    if (r.status().code() == Code::kNotFound) return false;
    return r.status();
  }

  Status Put(const std::string& url, std::string_view data) {
    Request req;
    req.method = Method::kPut;
    req.url = url;
    req.upload = data;
    return Execute(req).status();
  }

  // Why an attempt failed, for the retry that follows it.
  struct AttemptInfo {
    RetryCause cause = RetryCause::kNetwork;
    int64_t retry_after_s = -1;  // what the server asked us to wait, or -1
  };

  // Runs `req` with retries, within max_attempts and call_timeout. Transient failures become
  // Unavailable once the attempts or the time run out; an answer that is not the range asked
  // for (short, wrong Content-Range) is retried too and stays Corruption when it persists.
  Result<Response> Execute(const Request& req) {
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    const bool bounded = options_.call_timeout.count() > 0;
    const auto end = start + options_.call_timeout;
    RetryBackoff backoff(options_.initial_backoff, options_.max_backoff);
    for (int attempt = 1;; ++attempt) {
      AttemptInfo info;
      std::chrono::milliseconds left{0};
      if (bounded) left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
      Result<Response> r = Attempt(req, bounded ? &left : nullptr, &info);
      if (r.ok() && req.ranged && r->body.size() != req.length) {
        r = Status::Corruption(Name(req) + ": got " + std::to_string(r->body.size()) + " of " +
                               std::to_string(req.length) + " bytes");
      }
      if (r.ok()) return r;
      const bool bad_answer = r.status().code() == Code::kCorruption;
      if (bad_answer) info.cause = RetryCause::kBadAnswer;
      if (!r.status().retryable() && !bad_answer) return r;
      const auto wait =
          backoff.Next(std::chrono::seconds(std::max<int64_t>(0, info.retry_after_s)));
      const bool out_of_time = bounded && Clock::now() + wait >= end;
      if (attempt >= options_.max_attempts || out_of_time) {
        if (attempt == 1 || bad_answer) return r;
        return Status::Unavailable(r.status().message() + " (" + std::to_string(attempt) +
                                   " attempts" + (out_of_time ? ", out of time" : "") + ")");
      }
      if (options_.on_retry) options_.on_retry(info.cause);
      std::this_thread::sleep_for(wait);
    }
  }

  // One attempt, bounded by `left` too when given. Transient failures are Unavailable;
  // everything else is final.
  Result<Response> Attempt(const Request& req, const std::chrono::milliseconds* left,
                           AttemptInfo* info) {
    if (left && left->count() <= 0)
      return Status::Unavailable(Name(req) + ": no time left for another attempt");
    EasyHandle h = pool_.Acquire();
    if (!h) return Status::ResourceExhausted(Name(req) + ": curl_easy_init failed");
    Transfer t(req, ExpectedBody{req.ranged, req.offset, req.length, req.max_body});
    char errbuf[CURL_ERROR_SIZE] = {};
    Slist headers;
    CURLcode rc = Setup(h.get(), req, &t, errbuf, &headers, left);
    if (rc == CURLE_OK) rc = Lib().easy_perform(h.get());
    // Back to the pool even after a failure: curl closes a connection left in a bad state
    // (an aborted transfer, a timeout) and reconnects on the handle's next use.
    pool_.Release(std::move(h));
    info->retry_after_s = t.response.retry_after_seconds();
    if (rc == CURLE_OPERATION_TIMEDOUT) info->cause = RetryCause::kTimeout;
    const long status = t.response.status();
    if (rc == CURLE_OK && status == 429) info->cause = RetryCause::kThrottled;
    if (rc == CURLE_OK && (status == 408 || status >= 500)) info->cause = RetryCause::kServerError;
    return Classify(req, rc, errbuf, std::move(t));
  }

  CURLcode Setup(CURL* h, const Request& req, Transfer* t, char* errbuf, Slist* headers,
                 const std::chrono::milliseconds* left) {
    Lib().easy_reset(h);  // keeps the connection cache
    uint64_t size = req.method == Method::kPut ? req.upload.size() : req.ranged ? req.length : 0;
    int64_t deadline_ms =
        TransferTime(options_.request_timeout, size, options_.min_transfer_rate).count();
    if (left) deadline_ms = std::min<int64_t>(deadline_ms, std::max<int64_t>(1, left->count()));
    long low_speed_s = static_cast<long>((options_.request_timeout.count() + 999) / 1000);
    CURLcode rc = CURLE_OK;
    auto set = [&](CURLoption opt, auto value) {
      if (rc == CURLE_OK) rc = Lib().easy_setopt(h, opt, value);
    };
    set(CURLOPT_URL, req.url.c_str());
    set(CURLOPT_ERRORBUFFER, errbuf);
    set(CURLOPT_NOSIGNAL, 1L);
    set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
    set(CURLOPT_TIMEOUT_MS, static_cast<long>(deadline_ms));
    if (options_.low_speed_limit > 0) {
      set(CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(options_.low_speed_limit));
      set(CURLOPT_LOW_SPEED_TIME, std::max(1L, low_speed_s));
    }
    set(CURLOPT_TCP_KEEPALIVE, 1L);
    set(CURLOPT_FOLLOWLOCATION, 1L);
    set(CURLOPT_MAXREDIRS, 5L);
    const bool allow_http = !base_.starts_with("https://");
#if LIBCURL_VERSION_NUM >= 0x075500
    set(CURLOPT_PROTOCOLS_STR, "http,https");
    set(CURLOPT_REDIR_PROTOCOLS_STR, curl::RedirectProtocols(allow_http));
#else
    set(CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    set(CURLOPT_REDIR_PROTOCOLS, curl::RedirectProtocolMask(allow_http));
#endif
    set(CURLOPT_NOPROXY, no_proxy_.c_str());
    set(CURLOPT_USERAGENT, "imgfs/0.1");
    if (!options_.ca_file.empty()) set(CURLOPT_CAINFO, options_.ca_file.c_str());
    set(CURLOPT_HEADERFUNCTION, &HeaderCallback);
    set(CURLOPT_HEADERDATA, t);
    set(CURLOPT_WRITEFUNCTION, &WriteCallback);
    set(CURLOPT_WRITEDATA, t);
    switch (req.method) {
      case Method::kGet:
        if (req.ranged) {
          std::string range =
              std::to_string(req.offset) + "-" + std::to_string(req.offset + req.length - 1);
          set(CURLOPT_RANGE, range.c_str());  // curl copies option strings
        }
        break;
      case Method::kHead:
        set(CURLOPT_NOBODY, 1L);
        break;
      case Method::kPut: {
        set(CURLOPT_UPLOAD, 1L);
        set(CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.upload.size()));
        set(CURLOPT_READFUNCTION, &ReadCallback);
        set(CURLOPT_READDATA, t);
        set(CURLOPT_SEEKFUNCTION, &SeekCallback);
        set(CURLOPT_SEEKDATA, t);
        curl_slist* l = nullptr;
        for (const char* hdr : {"Expect:", "Content-Type: application/octet-stream"}) {
          curl_slist* next = Lib().slist_append(l, hdr);
          if (!next) {
            Lib().slist_free_all(l);
            return CURLE_OUT_OF_MEMORY;
          }
          l = next;
        }
        headers->reset(l);
        set(CURLOPT_HTTPHEADER, l);
        break;
      }
    }
    return rc;
  }

  Result<Response> Classify(const Request& req, CURLcode rc, const char* errbuf, Transfer t) {
    RETURN_IF_ERROR(t.response.StopReason(Name(req)));
    if (rc == CURLE_WRITE_ERROR && t.response.sliced()) rc = CURLE_OK;
    if (rc != CURLE_OK) {
      std::string msg = Name(req) + ": " + (*errbuf ? errbuf : Lib().easy_strerror(rc));
      if (IsTransientError(rc)) return Status::Unavailable(msg);
      if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL)
        return Status::InvalidArgument(msg);
      return Status::IOError(msg);
    }
    const long status = t.response.status();
    ASSIGN_OR_RETURN(std::string body, std::move(t.response).Finish(Name(req)));
    return Response{status, std::move(body)};
  }

  const std::string base_;
  const std::string described_;
  const RemoteOptions options_;
  HandlePool pool_;
  const std::string no_proxy_;
};

}  // namespace

Result<std::unique_ptr<RemoteStore>> OpenHttpRemoteStore(const std::string& base_url,
                                                         const RemoteOptions& options) {
  RETURN_IF_ERROR(GlobalInit());
  std::string base = base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  size_t host = base.find("://");
  if (host == std::string::npos || host + 3 >= base.size() ||
      base.find_first_of("?#") != std::string::npos)
    return Status::InvalidArgument("remote store " + RedactUrl(base_url) +
                                   ": expected http(s)://HOST[:PORT][/PATH] with no query");
  if (!options.ca_file.empty() && ::access(options.ca_file.c_str(), R_OK) != 0)
    return Status::FromErrno(errno, "CA file " + options.ca_file);
  return std::unique_ptr<RemoteStore>(new HttpRemoteStore(std::move(base), options));
}

}  // namespace imgfs::remote::internal
