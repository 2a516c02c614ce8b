#include "imgfs/daemon/control_server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <new>
#include <system_error>

#include "core/log.h"

namespace imgfs::control {
namespace {

// A peer that does not read its answer must not hold a connection thread forever.
constexpr timeval kSendTimeout{10, 0};

// The uid of the process at the other end of a Unix socket.
Result<uid_t> PeerUid(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return Status::FromErrno(errno, "SO_PEERCRED");
  return cred.uid;
}

// Whether `fd` is a socket listening at `path`, reachable there (not replaced or removed).
bool ListensAt(int fd, const std::string& path) {
  int listening = 0;
  socklen_t len = sizeof listening;
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening)
    return false;
  sockaddr_un bound{};
  socklen_t bound_len = sizeof bound;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len) != 0 ||
      bound.sun_family != AF_UNIX || path != bound.sun_path)
    return false;
  // Clients connect by path: it must still be a socket.
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

}  // namespace

Result<std::unique_ptr<Server>> Server::Listen(ServerOptions options, std::vector<Route> routes,
                                               UniqueFd inherited) {
  const std::string& path = options.socket_path;
  if (inherited.valid() && ListensAt(inherited.get(), path)) {
    ::fcntl(inherited.get(), F_SETFL, ::fcntl(inherited.get(), F_GETFL) | O_NONBLOCK);
    return std::unique_ptr<Server>(
        new Server(std::move(options), std::move(routes), std::move(inherited)));
  }
  inherited.Reset();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    return Status::InvalidArgument("socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return Status::FromErrno(errno, "socket");
  ::unlink(path.c_str());  // stale: the store lock proves no other daemon serves this store
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return Status::FromErrno(errno, "bind " + path);
  // bind() applies the umask, which may be 000: the mode is set explicitly.
  if (::chmod(path.c_str(), 0600) != 0) {
    Status s = Status::FromErrno(errno, "chmod 0600 " + path);
    ::unlink(path.c_str());
    return s;
  }
  if (::listen(fd.get(), 64) != 0) return Status::FromErrno(errno, "listen " + path);
  return std::unique_ptr<Server>(new Server(std::move(options), std::move(routes), std::move(fd)));
}

Server::Server(ServerOptions options, std::vector<Route> routes, UniqueFd listener)
    : options_(std::move(options)),
      routes_(std::move(routes)),
      listener_(std::move(listener)),
      reserve_(::open("/dev/null", O_RDONLY | O_CLOEXEC)) {}

Server::~Server() {
  Close();
  Drain();
}

void Server::AcceptOne() {
  while (listener_.valid()) {
    UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.valid() && (errno == EMFILE || errno == ENFILE) && reserve_.valid()) {
      // accept() takes a descriptor before it looks at the queue: EMFILE may mean nobody waits.
      reserve_.Reset();
      conn.Reset(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      reserve_.Reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
      if (!conn.valid()) return;  // nobody waited (looping on would spin while short)
      if (!reserve_.valid()) {    // still short: this caller is told so, the loop goes on
        ++refused_without_fds_;   // logged later: logging itself may need descriptors
        WriteResponse(conn.get(), ErrorResponse(Status::Unavailable(
                                      "the imgfs daemon is out of file descriptors; try again")));
        conn.Reset();
        reserve_.Reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        continue;
      }
      // Descriptors came back meanwhile: this caller is served as any other.
    }
    if (!conn.valid()) return;  // EAGAIN: none left (or a client that hung up already)
    if (refused_without_fds_ > 0) {
      IMGFS_LOG(Warning) << "control socket: refused " << refused_without_fds_
                         << " request(s) while out of file descriptors";
      refused_without_fds_ = 0;
    }
    ::setsockopt(conn.get(), SOL_SOCKET, SO_SNDTIMEO, &kSendTimeout, sizeof kSendTimeout);
    // Who it is, before any request byte is looked at. A refused caller still has its request
    // read (bounded as any other) so that it gets the 403 rather than a reset connection.
    auto uid = PeerUid(conn.get());
    std::string refused;
    if (!uid.ok() || (*uid != 0 && *uid != options_.owner)) {
      refused = uid.ok() ? "uid " + std::to_string(*uid) : "an unknown peer";
      IMGFS_LOG(Warning) << "control socket: refused " << refused;
    }
    Reap(false);
    if (connections_.size() >= options_.max_connections) {
      WriteResponse(conn.get(), ErrorResponse(Status::Unavailable(
                                    "the imgfs daemon is serving too many requests; try again")));
      continue;
    }
    try {
      Connection& c = connections_.emplace_back();
      c.thread = std::thread([this, done = c.done, fd = conn.get(), refused] {
        Serve(fd, refused);
        done->store(true);
        if (options_.on_done) options_.on_done();
      });
      conn.Release();                       // the thread owns it now
    } catch (const std::system_error& e) {  // no thread to be had: answer, do not abort
      connections_.pop_back();
      IMGFS_LOG(Warning) << "control socket: cannot start a thread: " << e.what();
      WriteResponse(conn.get(), ErrorResponse(Status::Unavailable(
                                    "the imgfs daemon cannot start a thread for this request")));
    }
  }
}

void Server::Serve(int raw_fd, const std::string& refused) noexcept {
  UniqueFd fd(raw_fd);
  try {
    auto request = ReadRequest(fd.get(), options_.limits);
    if (!refused.empty()) {
      WriteResponse(fd.get(),
                    ErrorResponse(Status::PermissionDenied(
                        "permission denied: " + refused +
                        " may not use this imgfs daemon (root or the store's owner only)")));
    } else {
      WriteResponse(fd.get(), request.ok() ? Dispatch(*request) : ErrorResponse(request.status()));
    }
  } catch (...) {  // only allocation failures get here; the connection just closes
  }
}

Response Server::Dispatch(const Request& request) noexcept {
  const Route* route = nullptr;
  for (const Route& r : routes_)
    if (r.method == request.method && r.path == request.path) route = &r;
  if (!route)
    return ErrorResponse(
        Status::NotFound("no such request: " + request.method + " " + request.path));
  nlohmann::json body =
      nlohmann::json::parse(request.body.empty() ? "{}" : request.body, nullptr, false);
  if (body.is_discarded())
    return ErrorResponse(Status::InvalidArgument("request body is not JSON"));
  try {
    Result<Response> response = route->handler(body);
    return response.ok() ? *response : ErrorResponse(response.status());
  } catch (const nlohmann::json::exception& e) {
    // A field of the wrong JSON type: the client's error, not the daemon's end.
    return ErrorResponse(Status::InvalidArgument(std::string("malformed request: ") + e.what()));
  } catch (const std::system_error& e) {
    return ErrorResponse(Status::Unavailable(std::string("out of threads: ") + e.what()));
  } catch (const std::bad_alloc&) {
    return ErrorResponse(Status::ResourceExhausted("out of memory"));
  } catch (const std::exception& e) {
    return ErrorResponse(Status::Internal(e.what()));
  }
}

void Server::Reap(bool all) {
  for (auto it = connections_.begin(); it != connections_.end();) {
    if (!all && !it->done->load()) {
      ++it;
      continue;
    }
    it->thread.join();
    it = connections_.erase(it);
  }
}

size_t Server::active() {
  Reap(false);
  return connections_.size();
}

void Server::Close() {
  if (!listener_.valid()) return;
  ::unlink(options_.socket_path.c_str());
  listener_.Reset();
}

void Server::Drain() { Reap(true); }

}  // namespace imgfs::control
