#include "imgfs/daemon/metrics_listener.h"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "core/log.h"
#include "imgfs/daemon/control_http.h"

namespace imgfs::daemon {

using control::ErrorResponse;
using control::ReadLimits;
using control::ReadRequest;
using control::Request;
using control::Response;
using control::WriteResponse;

Result<std::unique_ptr<MetricsListener>> MetricsListener::Listen(
    const std::string& address, std::function<std::string()> metrics) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size())
    return Status::InvalidArgument("metrics address '" + address + "': want HOST:PORT");
  std::string host = address.substr(0, colon), port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found))
    return Status::InvalidArgument("metrics address '" + address + "': " + ::gai_strerror(rc));
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> list(found, ::freeaddrinfo);

  std::unique_ptr<MetricsListener> l(new MetricsListener());
  l->metrics_ = std::move(metrics);
  l->listener_ = UniqueFd(::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!l->listener_.valid()) return Status::FromErrno(errno, "metrics socket");
  int one = 1;
  ::setsockopt(l->listener_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(l->listener_.get(), found->ai_addr, found->ai_addrlen) != 0 ||
      ::listen(l->listener_.get(), 16) != 0)
    return Status::FromErrno(errno, "metrics address " + address);
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(l->listener_.get(), reinterpret_cast<sockaddr*>(&bound), &len);
  l->port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                               : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  l->stop_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!l->stop_.valid()) return Status::FromErrno(errno, "eventfd");
  MetricsListener* self = l.get();
  try {
    l->thread_ = std::thread([self] { self->Serve(); });
  } catch (const std::system_error& e) {
    return Status::Unavailable(std::string("metrics listener thread: ") + e.what());
  }
  IMGFS_LOG(Info) << "metrics at http://" << address << "/metrics";
  return l;
}

MetricsListener::~MetricsListener() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    (void)!::write(stop_.get(), &one, sizeof one);
    thread_.join();
  }
}

void MetricsListener::Serve() {
  ReadLimits limits;
  limits.max_header = 8u << 10;
  limits.max_body = 0;
  limits.deadline = std::chrono::milliseconds(2000);
  for (;;) {
    pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      IMGFS_LOG(Warning) << "metrics listener: poll: " << std::strerror(errno);
      return;
    }
    if (fds[1].revents) return;
    UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.valid()) {
      // Out of descriptors: back off instead of spinning on a connection we cannot take.
      if (errno == EMFILE || errno == ENFILE) ::usleep(100 * 1000);
      continue;
    }
    Result<Request> request = ReadRequest(conn.get(), limits);
    Response response;
    if (!request.ok()) {
      response = ErrorResponse(request.status());
    } else if (request->method == "GET" && request->path == "/metrics") {
      response = Response{200, "text/plain; version=0.0.4", metrics_()};
    } else {
      response = ErrorResponse(Status::NotFound("only GET /metrics is served here"));
    }
    WriteResponse(conn.get(), response);
  }
}

}  // namespace imgfs::daemon
