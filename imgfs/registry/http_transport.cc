// The registry's curl adapter (see http_transport.h).
#include "imgfs/registry/http_transport.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "imgfs/curl_handles.h"
#include "imgfs/retry_backoff.h"

namespace imgfs::registry {
namespace {

constexpr size_t kMaxErrorBody = 4096;
constexpr size_t kMaxHeaderBytes = 256u << 10;
constexpr long kStreamBufferSize = 512L << 10;  // CURL_MAX_READ_SIZE before curl 7.88

using remote::curl::EasyHandle;
using remote::curl::GlobalInit;
using remote::curl::HandlePool;
using remote::curl::IsTransientError;
using remote::curl::Lib;
using remote::curl::NoProxyList;
using remote::curl::Slist;

// State of one attempt, shared with the curl callbacks (which never throw).
struct Transfer {
  const HttpRequest* req;
  HttpResponse response;
  size_t header_bytes = 0;
  size_t upload_pos = 0;
  Status stop;                  // why a callback stopped the transfer
  bool error_body_cut = false;  // the rest of an error body was not read (not an error)
};

bool Is2xx(long s) { return s >= 200 && s <= 299; }

size_t HeaderCallback(char* data, size_t size, size_t nitems, void* user) noexcept {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * nitems;
  try {
    std::string_view line(data, n);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    if (line.starts_with("HTTP/")) {  // a new response (redirect, 100 Continue): start over
      t->response.headers.clear();
      t->response.body.clear();
      t->header_bytes = 0;
      size_t sp = line.find(' ');
      long code = 0;
      if (sp != std::string_view::npos && line.size() >= sp + 4) {
        for (char c : line.substr(sp + 1, 3))
          code = std::isdigit(static_cast<unsigned char>(c)) ? code * 10 + (c - '0') : -1000;
      }
      t->response.status = code < 0 ? 0 : code;
      return n;
    }
    t->header_bytes += n;
    if (t->header_bytes > kMaxHeaderBytes) {
      t->stop = Status::ResourceExhausted("response headers over " +
                                          std::to_string(kMaxHeaderBytes) + " bytes");
      return 0;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return n;
    std::string name(line.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    std::string& slot = t->response.headers[name];
    if (!slot.empty()) slot += ", ";
    slot.append(value);
    return n;
  } catch (...) {
    t->stop = Status::ResourceExhausted("out of memory reading headers");
    return 0;
  }
}

size_t WriteCallback(char* data, size_t size, size_t nmemb, void* user) noexcept {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * nmemb;
  try {
    if (!Is2xx(t->response.status)) {  // an error page: keep its start for the message
      size_t room = kMaxErrorBody - std::min(kMaxErrorBody, t->response.body.size());
      t->response.body.append(data, std::min(room, n));
      if (n <= room) return n;
      t->error_body_cut = true;  // an endless error page is not read to its end
      return 0;
    }
    if (t->req->on_body) {
      Status s = t->req->on_body(t->response, std::string_view(data, n));
      if (!s.ok()) {
        t->stop = std::move(s);
        return 0;
      }
      return n;
    }
    if (t->response.body.size() + n > t->req->max_body) {
      t->stop = Status::ResourceExhausted("body larger than " + std::to_string(t->req->max_body) +
                                          " bytes");
      return 0;
    }
    t->response.body.append(data, n);
    return n;
  } catch (...) {
    t->stop = Status::ResourceExhausted("out of memory");
    return 0;
  }
}

size_t ReadCallback(char* buffer, size_t size, size_t nitems, void* user) noexcept {
  auto* t = static_cast<Transfer*>(user);
  std::string_view rest = t->req->body.substr(std::min(t->upload_pos, t->req->body.size()));
  size_t n = std::min(rest.size(), size * nitems);
  std::memcpy(buffer, rest.data(), n);
  t->upload_pos += n;
  return n;
}

int SeekCallback(void* user, curl_off_t offset, int origin) noexcept {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<uint64_t>(offset) > t->req->body.size())
    return CURL_SEEKFUNC_CANTSEEK;
  t->upload_pos = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

class CurlTransport final : public HttpTransport {
 public:
  explicit CurlTransport(const TransportOptions& options)
      : options_(options), pool_(options.max_connections), no_proxy_(NoProxyList()) {}

  Result<HttpResponse> Execute(const HttpRequest& req) override {
    const std::string name = req.method + " " + RedactUrl(req.url);
    EasyHandle h = pool_.Acquire();
    if (!h) return Status::ResourceExhausted(name + ": curl_easy_init failed");
    Transfer t{&req, {}, 0, 0, Status::Ok()};
    char errbuf[CURL_ERROR_SIZE] = {};
    Slist headers;
    CURLcode rc = Setup(h.get(), req, &t, errbuf, &headers);
    if (rc == CURLE_OK) rc = Lib().easy_perform(h.get());
    if (rc == CURLE_WRITE_ERROR && t.error_body_cut) rc = CURLE_OK;  // the response stands
    if (rc == CURLE_OK) {
      char* url = nullptr;
      if (Lib().easy_getinfo(h.get(), CURLINFO_EFFECTIVE_URL, &url) == CURLE_OK && url)
        t.response.effective_url = url;
    }
    // Back to the pool even after a failure: curl drops a connection left in a bad state.
    pool_.Release(std::move(h));
    if (!t.stop.ok()) return t.stop.WithContext(name);
    if (rc != CURLE_OK) {
      std::string msg = name + ": " + (*errbuf ? errbuf : Lib().easy_strerror(rc));
      if (IsTransientError(rc)) return Status::Unavailable(msg);
      if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL)
        return Status::InvalidArgument(msg);
      return Status::IOError(msg);
    }
    return std::move(t.response);
  }

 private:
  CURLcode Setup(CURL* h, const HttpRequest& req, Transfer* t, char* errbuf, Slist* headers) {
    Lib().easy_reset(h);  // keeps the connection cache
    CURLcode rc = CURLE_OK;
    auto set = [&](CURLoption opt, auto value) {
      if (rc == CURLE_OK) rc = Lib().easy_setopt(h, opt, value);
    };
    set(CURLOPT_URL, req.url.c_str());
    set(CURLOPT_ERRORBUFFER, errbuf);
    set(CURLOPT_NOSIGNAL, 1L);
    set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
    // A streamed body (a layer) is received in large reads: one per 512 KiB at best, rather
    // than per curl's default 16 KiB (curl still hands it over 16 KiB at a time).
    if (req.on_body) set(CURLOPT_BUFFERSIZE, kStreamBufferSize);
    int64_t deadline_ms = 0;  // none
    if (!req.on_body || req.expected_bytes > 0)
      deadline_ms = remote::TransferTime(options_.request_timeout,
                                         std::max<uint64_t>(req.expected_bytes, req.body.size()),
                                         options_.min_transfer_rate)
                        .count();
    if (req.time_limit.count() > 0)
      deadline_ms = deadline_ms > 0 ? std::min<int64_t>(deadline_ms, req.time_limit.count())
                                    : req.time_limit.count();
    if (deadline_ms > 0) set(CURLOPT_TIMEOUT_MS, static_cast<long>(deadline_ms));
    if (options_.low_speed_limit > 0) {
      set(CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(options_.low_speed_limit));
      set(CURLOPT_LOW_SPEED_TIME,
          std::max(1L, static_cast<long>((options_.request_timeout.count() + 999) / 1000)));
    }
    set(CURLOPT_TCP_KEEPALIVE, 1L);
    set(CURLOPT_FOLLOWLOCATION, req.follow_redirects ? 1L : 0L);
    set(CURLOPT_MAXREDIRS, 5L);
#if LIBCURL_VERSION_NUM >= 0x075500
    set(CURLOPT_PROTOCOLS_STR, "http,https");
    set(CURLOPT_REDIR_PROTOCOLS_STR, remote::curl::RedirectProtocols(options_.http_redirects));
#else
    set(CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    set(CURLOPT_REDIR_PROTOCOLS, remote::curl::RedirectProtocolMask(options_.http_redirects));
#endif
    set(CURLOPT_NOPROXY, no_proxy_.c_str());
    set(CURLOPT_USERAGENT, "imgfs/0.1");
    if (!options_.tls_verify) {
      set(CURLOPT_SSL_VERIFYPEER, 0L);
      set(CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (!options_.ca_file.empty()) set(CURLOPT_CAINFO, options_.ca_file.c_str());
    set(CURLOPT_HEADERFUNCTION, &HeaderCallback);
    set(CURLOPT_HEADERDATA, t);
    set(CURLOPT_WRITEFUNCTION, &WriteCallback);
    set(CURLOPT_WRITEDATA, t);
    if (req.method == "HEAD") {
      set(CURLOPT_NOBODY, 1L);
    } else if (req.method == "PUT" || req.method == "POST" || req.method == "PATCH") {
      set(CURLOPT_UPLOAD, 1L);
      set(CURLOPT_CUSTOMREQUEST, req.method.c_str());
      set(CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
      set(CURLOPT_READFUNCTION, &ReadCallback);
      set(CURLOPT_READDATA, t);
      set(CURLOPT_SEEKFUNCTION, &SeekCallback);
      set(CURLOPT_SEEKDATA, t);
    } else if (req.method != "GET") {
      set(CURLOPT_CUSTOMREQUEST, req.method.c_str());
    }
    curl_slist* l = nullptr;
    std::vector<std::string> all = req.headers;
    all.push_back("Expect:");
    for (const std::string& hdr : all) {
      curl_slist* next = Lib().slist_append(l, hdr.c_str());
      if (!next) {
        Lib().slist_free_all(l);
        return CURLE_OUT_OF_MEMORY;
      }
      l = next;
    }
    headers->reset(l);
    set(CURLOPT_HTTPHEADER, l);
    return rc;
  }

  const TransportOptions options_;
  HandlePool pool_;
  const std::string no_proxy_;
};

}  // namespace

std::string UrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string RedactUrl(const std::string& url) { return remote::curl::RedactUrl(url); }

std::string UrlOrigin(std::string_view url) {
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) return "";
  std::string scheme(url.substr(0, sep));
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "http" && scheme != "https") return "";
  std::string_view authority = url.substr(sep + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (size_t at = authority.rfind('@'); at != std::string_view::npos)
    authority.remove_prefix(at + 1);
  std::string_view host = authority, port;
  size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return "";
  std::string out = scheme + "://";
  for (char c : host) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  out += ":" + (port.empty() ? std::string(scheme == "https" ? "443" : "80") : std::string(port));
  return out;
}

Result<std::unique_ptr<HttpTransport>> NewCurlTransport(const TransportOptions& options) {
  RETURN_IF_ERROR(GlobalInit());
  if (options.max_connections < 1 || options.connect_timeout.count() <= 0 ||
      options.request_timeout.count() <= 0)
    return Status::InvalidArgument("registry transport: invalid options");
  if (!options.ca_file.empty() && ::access(options.ca_file.c_str(), R_OK) != 0)
    return Status::FromErrno(errno, "CA file " + options.ca_file);
  return std::unique_ptr<HttpTransport>(new CurlTransport(options));
}

}  // namespace imgfs::registry
