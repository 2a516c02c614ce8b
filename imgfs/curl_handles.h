// What the two curl adapters share (the http(s):// remote store, remote_http.cc, and the registry
// transport, registry/http_transport.cc): libcurl itself, loaded when first needed, owning
// handles, curl's one-time global set-up, a bounded pool of easy handles whose idle ones keep
// their connections for reuse, which curl failures are transient, the proxy exceptions and URL
// redaction. (Their retry schedule is retry_backoff.h.)
// Only those two files and curl_library.cc include it (and so curl's header). Thread-safety:
// GlobalInit and HandlePool are thread-safe; handles are used by one thread at a time.
#pragma once

#include <curl/curl.h>

#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/status.h"

namespace imgfs::remote::curl {

// The libcurl functions the adapters call. libcurl is opened (dlopen of libcurl.so.4) by the
// first GlobalInit, not linked: with the ~35 libraries it brings (TLS, Kerberos, LDAP, ...) it
// cost every imgfs start ~3 ms of dynamic loading, which the commands that never reach the
// network (a run of a mounted image, stats, ls, a daemon serving local chunks) no longer pay.
struct Library {
  CURLcode (*global_init)(long flags);
  const char* (*easy_strerror)(CURLcode code);
  CURL* (*easy_init)();
  void (*easy_cleanup)(CURL* handle);
  void (*easy_reset)(CURL* handle);
  CURLcode (*easy_setopt)(CURL* handle, CURLoption option, ...);
  CURLcode (*easy_perform)(CURL* handle);
  CURLcode (*easy_getinfo)(CURL* handle, CURLINFO info, ...);
  curl_slist* (*slist_append)(curl_slist* list, const char* item);
  void (*slist_free_all)(curl_slist* list);
};

// libcurl loaded and curl_global_init run, once per process (thread-safe); on failure, what
// failed, in one line (every later call returns the same).
Status GlobalInit();
// The functions; only after GlobalInit() returned Ok (every handle is made after it).
const Library& Lib();

struct EasyDeleter {
  void operator()(CURL* h) const { Lib().easy_cleanup(h); }
};
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;

struct SlistDeleter {
  void operator()(curl_slist* l) const { Lib().slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

// Curl failures that another attempt may not meet: the network or the server, not the request.
inline bool IsTransientError(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_QUIC_CONNECT_ERROR:
    case CURLE_AGAIN:
      return true;
    default:
      return false;
  }
}

// CURLOPT_NOPROXY: loopback always, and whatever no_proxy / NO_PROXY name.
inline std::string NoProxyList() {
  std::string list = "localhost,127.0.0.1,::1";
  for (const char* var : {"no_proxy", "NO_PROXY"}) {
    const char* v = std::getenv(var);
    if (v && *v) return std::string(v) + "," + list;
  }
  return list;
}

// The protocols a transfer may be redirected to: https only, unless clear text was allowed (a
// redirect never downgrades an https server to clear text). For CURLOPT_REDIR_PROTOCOLS_STR, and
// the mask for the older CURLOPT_REDIR_PROTOCOLS.
inline const char* RedirectProtocols(bool allow_http) {
  return allow_http ? "http,https" : "https";
}
inline long RedirectProtocolMask(bool allow_http) {
  return allow_http ? static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS)
                    : static_cast<long>(CURLPROTO_HTTPS);
}

// A URL for messages: "user:password@" hidden, the query (signatures of blob-storage
// redirects) and fragment dropped.
inline std::string RedactUrl(const std::string& url) {
  std::string out = url;
  if (size_t scheme = out.find("://"); scheme != std::string::npos) {
    size_t host = scheme + 3;
    size_t end = out.find('/', host);
    size_t at = out.rfind('@', end == std::string::npos ? out.size() : end);
    if (at != std::string::npos && at >= host)
      out = out.substr(0, host) + "***@" + out.substr(at + 1);
  }
  return out.substr(0, out.find_first_of("?#"));
}

// At most `max` easy handles in use at once; idle ones keep their connections for reuse.
class HandlePool {
 public:
  explicit HandlePool(unsigned max) : max_(max) {}

  // Blocks while `max` handles are lent. Returns null if curl cannot make a handle.
  EasyHandle Acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return busy_ < max_; });
    ++busy_;
    if (!idle_.empty()) {
      EasyHandle h = std::move(idle_.back());
      idle_.pop_back();
      return h;
    }
    lock.unlock();
    EasyHandle h(Lib().easy_init());
    if (!h) Release(nullptr);
    return h;
  }

  void Release(EasyHandle h) {
    {
      std::lock_guard lock(mu_);
      if (h) idle_.push_back(std::move(h));
      --busy_;
    }
    cv_.notify_one();
  }

 private:
  const unsigned max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<EasyHandle> idle_;  // GUARDED_BY(mu_)
  unsigned busy_ = 0;             // GUARDED_BY(mu_)
};

}  // namespace imgfs::remote::curl
