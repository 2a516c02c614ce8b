// The registry's curl transport against a scripted HTTP server on 127.0.0.1: an endless error
// body is cut after its first 4 KiB and the response kept, a trickled streamed body meets its
// deadline, redirects stay on https unless http ones are allowed; and the URL helpers that
// decide where credentials go (UrlOrigin) and what messages show (RedactUrl).
#include "imgfs/registry/http_transport.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <thread>

#include "imgfs/retry_backoff.h"

namespace imgfs::registry {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

// An HTTP/1.1 server on 127.0.0.1 for one test. Connections are served one at a time: `serve`
// gets the socket and the request head and writes the answer (taking its time if it likes); the
// connection is closed after it. Stops serving when destroyed.
class LoopbackServer {
 public:
  using Serve = std::function<void(LoopbackServer& server, int fd, const std::string& head)>;

  explicit LoopbackServer(Serve serve) : serve_(std::move(serve)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listen_fd_, 8) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "no loopback socket: " << std::strerror(errno);
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~LoopbackServer() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
    if (listen_fd_ >= 0) ::close(listen_fd_);
  }

  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  bool stopping() const { return stopping_; }
  // Writes all of `s`; false when the client has gone (or the server stops).
  bool Send(int fd, std::string_view s) {
    while (!s.empty() && !stopping_) {
      ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      s.remove_prefix(static_cast<size_t>(n));
    }
    return s.empty();
  }

 private:
  void Run() {
    while (!stopping_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) break;
        head.append(buf, static_cast<size_t>(n));
      }
      serve_(*this, fd, head);
      ::close(fd);
    }
  }

  Serve serve_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

std::unique_ptr<HttpTransport> Transport(TransportOptions options) {
  auto t = NewCurlTransport(options);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return std::move(t).value();
}

TEST(CurlTransport, AnEndlessErrorBodyIsCutAndTheResponseKept) {
  LoopbackServer server([](LoopbackServer& s, int fd, const std::string&) {
    if (!s.Send(fd,
                "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n"
                "Connection: close\r\n\r\n"))
      return;
    const std::string chunk = "400\r\n" + std::string(1024, 'e') + "\r\n";
    while (s.Send(fd, chunk)) {
    }
  });
  TransportOptions options;
  options.request_timeout = milliseconds(3000);
  auto transport = Transport(options);
  HttpRequest req;
  req.url = server.Url("/v2/r/blobs/x");
  const auto start = SteadyClock::now();
  Result<HttpResponse> r = transport->Execute(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body.size(), 4096u);
  EXPECT_LT(SteadyClock::now() - start, milliseconds(2000));
}

// A 206 of 256 KiB trickled at ~20 KiB/s: above the low-speed limit, so only a deadline ends it.
void Trickle(LoopbackServer& s, int fd, const std::string&) {
  if (!s.Send(fd,
              "HTTP/1.1 206 Partial Content\r\nContent-Length: 262144\r\n"
              "Content-Range: bytes 0-262143/262144\r\nConnection: close\r\n\r\n"))
    return;
  for (int i = 0; i < 128; ++i) {
    if (!s.Send(fd, std::string(2048, 'b'))) return;
    std::this_thread::sleep_for(milliseconds(100));  // the server's pace, not a test wait
  }
}

TEST(CurlTransport, ATrickledStreamedBodyMeetsItsDeadline) {
  LoopbackServer server(Trickle);
  TransportOptions options;
  options.request_timeout = milliseconds(1000);
  options.min_transfer_rate = 64u << 10;
  auto transport = Transport(options);
  HttpRequest req;
  req.url = server.Url("/v2/r/blobs/x");
  req.expected_bytes = 64u << 10;  // deadline 1 s + 1 s
  uint64_t got = 0;
  req.on_body = [&](const HttpResponse&, std::string_view piece) {
    got += piece.size();
    return Status::Ok();
  };
  auto start = SteadyClock::now();
  Result<HttpResponse> r = transport->Execute(req);
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().ToString();
  EXPECT_LT(SteadyClock::now() - start, milliseconds(4000));
  EXPECT_LT(got, 262144u);

  // No expected size (a consumer that may pause), but a time limit: that bounds it.
  req.expected_bytes = 0;
  req.time_limit = milliseconds(1000);
  start = SteadyClock::now();
  r = transport->Execute(req);
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().ToString();
  EXPECT_LT(SteadyClock::now() - start, milliseconds(3000));
}

TEST(CurlTransport, RedirectsGoToHttpOnlyWhenAllowed) {
  LoopbackServer server([](LoopbackServer& s, int fd, const std::string& head) {
    if (head.starts_with("GET /a "))
      s.Send(fd, "HTTP/1.1 302 Found\r\nLocation: " + s.Url("/b") +
                     "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    else
      s.Send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
  });
  HttpRequest req;
  req.url = server.Url("/a");
  Result<HttpResponse> r = Transport({})->Execute(req);
  EXPECT_FALSE(r.ok() && r->status == 200) << "followed a redirect to http://";

  TransportOptions plain;
  plain.http_redirects = true;
  r = Transport(plain)->Execute(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok");
  EXPECT_EQ(r->effective_url, server.Url("/b"));
}

TEST(Url, Origin) {
  EXPECT_EQ(UrlOrigin("https://Reg.Test/v2/x"), "https://reg.test:443");
  EXPECT_EQ(UrlOrigin("https://reg.test:443/v2/x?a=b"), "https://reg.test:443");
  EXPECT_EQ(UrlOrigin("HTTP://u:p@reg.test:5000"), "http://reg.test:5000");
  EXPECT_EQ(UrlOrigin("https://[::1]:5000/v2/"), "https://[::1]:5000");
  EXPECT_EQ(UrlOrigin("https://[::1]/v2/"), "https://[::1]:443");
  EXPECT_NE(UrlOrigin("https://reg.test/"), UrlOrigin("http://reg.test/"));
  EXPECT_NE(UrlOrigin("https://reg.test/"), UrlOrigin("https://reg.test.evil/"));
  EXPECT_NE(UrlOrigin("https://reg.test@evil.test/"), UrlOrigin("https://reg.test/"));
  EXPECT_EQ(UrlOrigin("ftp://reg.test/"), "");
  EXPECT_EQ(UrlOrigin("/v2/relative"), "");
}

TEST(Url, RedactHidesCredentialsAndSignatures) {
  EXPECT_EQ(RedactUrl("https://u:p@s.test/b?X-Amz-Signature=abc&X-Amz-Credential=k#f"),
            "https://***@s.test/b");
  EXPECT_EQ(RedactUrl("https://s.test/b?sig=1"), "https://s.test/b");
  EXPECT_EQ(RedactUrl("https://s.test/b"), "https://s.test/b");
}

TEST(TransferTime, AddsTheBytesAtTheRateAndSaturates) {
  using std::chrono::milliseconds;
  EXPECT_EQ(remote::TransferTime(milliseconds(3000), 4u << 20, 1u << 20), milliseconds(7000));
  EXPECT_EQ(remote::TransferTime(milliseconds(3000), 1536, 1024), milliseconds(4500));
  EXPECT_EQ(remote::TransferTime(milliseconds(3000), UINT64_MAX, 0), milliseconds(3000));
  // An end near 2^64 (a hostile offset) must not wrap into a short (or no) deadline.
  const milliseconds huge = remote::TransferTime(milliseconds(3000), UINT64_MAX - 5, 1u << 20);
  EXPECT_GT(huge, milliseconds(1) * (uint64_t{1} << 39));
  EXPECT_EQ(huge, remote::TransferTime(milliseconds(3000), UINT64_MAX, 1));
}

}  // namespace
}  // namespace imgfs::registry
