// Talks to the imgfs daemon of a store over its Unix socket (see imgfs/daemon/daemon.h).
// Thread-safety: each call opens its own connection; safe from any thread.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"

namespace imgfs::cli {

struct ControlReply {
  int code = 0;
  std::string body;
};

// Unavailable when no daemon listens on the socket.
Result<ControlReply> ControlRequest(const std::string& socket_path, const std::string& method,
                                    const std::string& path, const std::string& body = "");

// As ControlRequest, but a non-200 reply becomes a Status carrying the daemon's error message,
// and the body is parsed as JSON.
Result<nlohmann::json> ControlCall(const std::string& socket_path, const std::string& method,
                                   const std::string& path, const nlohmann::json& body = {});

}  // namespace imgfs::cli
