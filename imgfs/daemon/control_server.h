// The daemon's control socket (STORE/imgfs.sock): a route table served concurrently.
//
// Who may ask: the socket is made 0600 after bind (whatever the umask) inside a 0700 store
// (imgfs/daemon/store_dir.h), and every connection's peer credentials (SO_PEERCRED) are checked
// before any handler runs: only root and the store's owner are served; anyone else gets 403
// for whatever it asks. (A caller who can use the socket can make the daemon read any path it can
// read and mount over any directory, so there is no read-only tier.)
//
// How: each accepted connection is served on a thread of its own, at most `max_connections` at
// once (beyond that a caller gets 503 at once), so a slow client, a mount waiting on a hanging
// remote, or a conversion never delays /stats, /umount or signal handling. A request must
// arrive whole within `limits.deadline` and within the size limits (control_http.h), else it
// is answered 408/413 and closed.
//
// Thread-safety: Listen, AcceptOne, active, Close and Drain are called from one thread (the
// daemon's main loop); handlers run on connection threads, concurrently with each other.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/fd.h"
#include "core/status.h"
#include "imgfs/daemon/control_http.h"

namespace imgfs::control {

// Answers one request. `body` is the request's JSON body ({} when empty). An error status
// becomes an error response (ErrorResponse); a field of the wrong JSON type may throw
// nlohmann::json::exception, which answers 400.
using Handler = std::function<Result<Response>(const nlohmann::json& body)>;

struct Route {
  std::string method;  // "GET" or "POST"
  std::string path;    // "/stats"
  Handler handler;
};

struct ServerOptions {
  std::string socket_path;
  uid_t owner = 0;  // served besides root
  size_t max_connections = 64;
  ReadLimits limits;
  // Runs on a connection's thread once it is answered and closed (wakes the main loop).
  std::function<void()> on_done;
};

class Server {
 public:
  // Binds the socket (replacing a stale one: the caller holds the store's lock, so no other
  // daemon serves it), makes it 0600 and listens. `inherited`, when valid, is the listening
  // socket of an earlier daemon of the store, kept by its supervisor (imgfs/daemon/supervisor.h)
  // so that clients queue instead of failing while the daemon restarts: it is used as it is if
  // it listens at `socket_path`, else closed and a new socket bound.
  [[nodiscard]] static Result<std::unique_ptr<Server>> Listen(ServerOptions options,
                                                              std::vector<Route> routes,
                                                              UniqueFd inherited = {});
  ~Server();  // Close(), then Drain()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The listening socket, for poll(POLLIN); -1 once closed.
  int fd() const { return listener_.get(); }
  // Accepts the pending connections (never blocks) and starts serving each.
  void AcceptOne();
  // Connections being served now; joins the finished ones.
  size_t active();
  // Stops listening and removes the socket file; connections in flight go on.
  void Close();
  // Stops accepting but leaves the socket listening for the next daemon (a hand-over): clients
  // queue in its backlog until that one accepts.
  void StopAccepting() { listener_.Reset(); }
  // Waits for every connection in flight.
  void Drain();

 private:
  struct Connection {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done = std::make_shared<std::atomic<bool>>(false);
  };
  Server(ServerOptions options, std::vector<Route> routes, UniqueFd listener);
  // Serves one connection on its thread (`refused`: who it is when not allowed); never throws.
  void Serve(int fd, const std::string& refused) noexcept;
  Response Dispatch(const Request& request) noexcept;
  void Reap(bool all);

  const ServerOptions options_;
  const std::vector<Route> routes_;
  UniqueFd listener_;
  // A descriptor held back for when the process runs out of them (EMFILE): let go to accept the
  // waiting connection and answer 503, so that it leaves the backlog instead of making poll
  // report it forever (a busy loop), then taken again.
  UniqueFd reserve_;
  size_t refused_without_fds_ = 0;     // since the last accepted connection
  std::list<Connection> connections_;  // touched by the main-loop thread only
};

}  // namespace imgfs::control
