// A read-only TCP endpoint for Prometheus: `GET /metrics` and nothing else (every other method
// or path is 404, and nothing else of the control socket is reachable through it), one
// connection at a time on a thread of its own, each request whole within two seconds. The text
// names mount points and image digests: bind it to loopback or a management network.
// Thread-safety: Listen and the destructor from one thread; `metrics` runs on the listener's.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "core/fd.h"
#include "core/status.h"

namespace imgfs::daemon {

class MetricsListener {
 public:
  // ADDRESS: HOST:PORT with a numeric host ("127.0.0.1:9110", "[::1]:9110"), or ":PORT" for
  // every interface.
  [[nodiscard]] static Result<std::unique_ptr<MetricsListener>> Listen(
      const std::string& address, std::function<std::string()> metrics);
  ~MetricsListener();  // stops serving and joins the thread
  MetricsListener(const MetricsListener&) = delete;
  MetricsListener& operator=(const MetricsListener&) = delete;

  // The port bound (useful with port 0).
  int port() const { return port_; }

 private:
  MetricsListener() = default;
  void Serve();

  UniqueFd listener_;
  UniqueFd stop_;  // eventfd
  int port_ = 0;
  std::function<std::string()> metrics_;
  std::thread thread_;
};

}  // namespace imgfs::daemon
