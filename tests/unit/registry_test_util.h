// A scripted HttpTransport for the registry unit tests. Thread-safe recording.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "imgfs/registry/http_transport.h"

namespace imgfs::registry {

// Answers requests with a handler; records them. A 2xx body goes to on_body when the request
// has one, in pieces of `piece` bytes; `break_after` cuts such a body there with Unavailable.
// `effective_url` is where the answer came from (a followed redirect); empty: the request's URL.
struct Reply {
  Reply(long status = 200, std::map<std::string, std::string> headers = {}, std::string body = {},
        size_t break_after = std::string::npos, std::string effective_url = {})
      : status(status),
        headers(std::move(headers)),
        body(std::move(body)),
        break_after(break_after),
        effective_url(std::move(effective_url)) {}
  long status;
  std::map<std::string, std::string> headers;
  std::string body;
  size_t break_after;
  std::string effective_url;
};

class FakeTransport : public HttpTransport {
 public:
  std::function<Reply(const HttpRequest&)> handler;  // may be called from several threads
  size_t piece = 7;
  std::vector<HttpRequest> requests;  // GUARDED_BY(mu); body views are not kept valid
  std::vector<std::string> bodies;    // GUARDED_BY(mu)
  std::mutex mu;

  Result<HttpResponse> Execute(const HttpRequest& req) override {
    {
      std::lock_guard lock(mu);
      requests.push_back(req);
      bodies.emplace_back(req.body);
    }
    Result<HttpResponse> r = Answer(req);
    {
      std::lock_guard lock(mu);
      finished.push_back(req.url);
    }
    finished_cv.notify_all();
    return r;
  }

  // Waits until `n` requests for `url` have finished (returned to the client).
  void WaitFinished(const std::string& url, std::ptrdiff_t n) {
    std::unique_lock lock(mu);
    finished_cv.wait(lock, [&] { return std::count(finished.begin(), finished.end(), url) >= n; });
  }

  std::vector<std::string> finished;  // GUARDED_BY(mu)
  std::condition_variable finished_cv;

 private:
  Result<HttpResponse> Answer(const HttpRequest& req) {
    Reply reply = handler(req);
    HttpResponse r;
    r.status = reply.status;
    r.headers = reply.headers;
    r.effective_url = reply.effective_url.empty() ? req.url : reply.effective_url;
    if (reply.status < 200 || reply.status > 299 || !req.on_body) {
      r.body = reply.body;
      return r;
    }
    const size_t limit = std::min(reply.body.size(), reply.break_after);
    for (size_t pos = 0; pos < limit; pos += piece) {
      Status s =
          req.on_body(r, std::string_view(reply.body).substr(pos, std::min(piece, limit - pos)));
      if (!s.ok()) return s;
    }
    if (limit < reply.body.size()) return Status::Unavailable("connection reset (injected)");
    return r;
  }
};

inline std::string Header(const HttpRequest& req, const std::string& name) {
  for (const std::string& h : req.headers)
    if (h.rfind(name + ": ", 0) == 0) return h.substr(name.size() + 2);
  return "";
}

}  // namespace imgfs::registry
