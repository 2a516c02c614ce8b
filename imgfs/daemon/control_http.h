// The HTTP/1.0 subset the daemon's control socket speaks (imgfs/daemon/daemon.h lists the
// requests): one request per connection, a request line, headers of which only Content-Length
// is read, and a body of at most that many bytes. Every byte comes from a local client that
// may be hostile or slow, so reading is bounded in size and in time.
// Thread-compatible: each call works on the connection it is given.
#pragma once

#include <chrono>
#include <string>

#include "core/status.h"

namespace imgfs::control {

struct Request {
  std::string method, path, body;
};

struct Response {
  int code = 200;
  std::string type = "application/json";
  std::string body = "{}\n";
};

struct ReadLimits {
  size_t max_header = 64u << 10;
  size_t max_body = 1u << 20;
  // The whole request (line, headers and body) must have arrived by then: a client sending a
  // byte every few seconds is cut off, not waited for.
  std::chrono::milliseconds deadline{10000};
};

// Reads one request from `fd`. InvalidArgument for a malformed or incomplete request,
// ResourceExhausted for one over the size limits, Unavailable("request timed out") when the
// deadline passes first (ErrorResponse answers it 408).
[[nodiscard]] Result<Request> ReadRequest(int fd, const ReadLimits& limits);

// A JSON error response: {"error": message} with the HTTP code the status maps to
// (400 invalid, 403 permission, 404 not found, 408 timed out, 409 exists, 413 too large,
// 503 unavailable, 500 otherwise).
Response ErrorResponse(const Status& status);

// Writes `response` (best effort: a client that went away costs a failed write).
void WriteResponse(int fd, const Response& response);

}  // namespace imgfs::control
