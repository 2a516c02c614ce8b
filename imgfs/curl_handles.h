// What the two curl adapters share (the http(s):// remote store, remote_http.cc, and the registry
// transport, registry/http_transport.cc): owning handles, curl's one-time global set-up, and a
// bounded pool of easy handles whose idle ones keep their connections for reuse.
// Only those two files include it (and so curl). Thread-safety: GlobalInit and HandlePool are
// thread-safe; handles are used by one thread at a time.
#pragma once

#include <curl/curl.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "core/status.h"

namespace imgfs::remote::curl {

struct EasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

// curl_global_init, once per process.
inline Status GlobalInit() {
  static std::once_flag once;
  static CURLcode rc = CURLE_OK;
  std::call_once(once, [] { rc = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (rc != CURLE_OK)
    return Status::Internal(std::string("curl_global_init: ") + curl_easy_strerror(rc));
  return Status::Ok();
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
    EasyHandle h(curl_easy_init());
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
