// Fuzzes the daemon's control socket as any local client could: arbitrary bytes arrive on a
// connection and are read as a request (request line, headers, Content-Length, body), within the
// size and time limits; the body is then read as the handlers read it (JSON, checked numbers),
// and the error answer is built. Must never crash, hang or read past the limits.
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/fd.h"
#include "imgfs/daemon/control_http.h"
#include "imgfs/daemon/request_fields.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 100000) return 0;  // stays within one socket buffer: no writer thread needed
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
  imgfs::UniqueFd server(fds[0]), client(fds[1]);
  int buf = 1 << 20;
  (void)::setsockopt(client.get(), SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  (void)::setsockopt(server.get(), SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  if (!imgfs::WriteFull(client.get(), {data, size}).ok()) return 0;
  ::shutdown(client.get(), SHUT_WR);

  imgfs::control::ReadLimits limits;
  limits.max_header = 4096;
  limits.max_body = 8192;
  limits.deadline = std::chrono::milliseconds(200);
  auto request = imgfs::control::ReadRequest(server.get(), limits);
  if (!request.ok()) {
    (void)imgfs::control::ErrorResponse(request.status());
    return 0;
  }
  if (request->body.size() > limits.max_body) std::abort();
  nlohmann::json body = nlohmann::json::parse(request->body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return 0;
  for (const char* field : {"cache_size", "threads", "chunk_min", "trace_seconds"}) {
    auto v = imgfs::daemon::UintField(body, field, 0, 1, 1000);
    if (v.ok() && body.is_object() && body.contains(field) && !body[field].is_null() &&
        (*v < 1 || *v > 1000))
      std::abort();
    if (!v.ok()) (void)imgfs::control::ErrorResponse(v.status());
  }
  return 0;
}
