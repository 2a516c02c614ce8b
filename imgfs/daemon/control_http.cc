#include "imgfs/daemon/control_http.h"

#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <nlohmann/json.hpp>
#include <string_view>

#include "core/fd.h"

namespace imgfs::control {
namespace {

using Clock = std::chrono::steady_clock;

// Appends what the client sends next, waiting no later than `deadline`.
Status ReadMore(int fd, Clock::time_point deadline, std::string& data) {
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return Status::Unavailable("request timed out");
    pollfd p{fd, POLLIN, 0};
    int n = RetryOnEintr([&] { return ::poll(&p, 1, static_cast<int>(left.count())); });
    if (n < 0) return Status::FromErrno(errno, "poll");
    if (n == 0) continue;  // the loop's top decides whether the deadline passed
    char buf[8192];
    ssize_t got = RetryOnEintr([&] { return ::recv(fd, buf, sizeof buf, MSG_DONTWAIT); });
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (got <= 0) return Status::InvalidArgument("incomplete request");
    data.append(buf, static_cast<size_t>(got));
    return Status::Ok();
  }
}

Result<size_t> ContentLength(std::string_view head) {
  size_t length = 0;
  for (size_t pos = head.find("\r\n"); pos != std::string_view::npos;) {
    const size_t start = pos + 2, end = head.find("\r\n", start);
    std::string_view line = head.substr(start, end == std::string_view::npos ? end : end - start);
    pos = end;
    constexpr std::string_view kName = "content-length:";
    if (line.size() < kName.size() || strncasecmp(line.data(), kName.data(), kName.size()) != 0)
      continue;
    std::string_view v = line.substr(kName.size());
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), length);
    if (v.empty() || ec != std::errc() || p != v.data() + v.size())
      return Status::InvalidArgument("malformed Content-Length");
  }
  return length;
}

}  // namespace

Result<Request> ReadRequest(int fd, const ReadLimits& limits) {
  const auto deadline = Clock::now() + limits.deadline;
  std::string data;
  size_t header_end, searched = 0;  // (each byte is searched once, however it trickles in)
  while ((header_end = data.find("\r\n\r\n", searched)) == std::string::npos) {
    if (data.size() > limits.max_header)
      return Status::ResourceExhausted("request headers too large");
    searched = data.size() < 3 ? 0 : data.size() - 3;
    RETURN_IF_ERROR(ReadMore(fd, deadline, data));
  }
  if (header_end > limits.max_header) return Status::ResourceExhausted("request headers too large");
  std::string_view head(data.data(), header_end);
  const size_t line_end = head.find("\r\n");
  std::string_view line = head.substr(0, line_end);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return Status::InvalidArgument("malformed request line");
  Request req;
  req.method = std::string(line.substr(0, sp1));
  req.path = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  ASSIGN_OR_RETURN(size_t length, ContentLength(head));
  if (length > limits.max_body) return Status::ResourceExhausted("request body too large");
  req.body = data.substr(header_end + 4);
  while (req.body.size() < length) RETURN_IF_ERROR(ReadMore(fd, deadline, req.body));
  if (req.body.size() > length) req.body.resize(length);
  return req;
}

Response ErrorResponse(const Status& status) {
  int code = 500;
  switch (status.code()) {
    case Code::kInvalidArgument:
      code = 400;
      break;
    case Code::kPermissionDenied:
      code = 403;
      break;
    case Code::kNotFound:
      code = 404;
      break;
    case Code::kAlreadyExists:
      code = 409;
      break;
    case Code::kResourceExhausted:
      code = 413;
      break;
    case Code::kUnavailable:
      code = status.message() == "request timed out" ? 408 : 503;
      break;
    default:
      break;
  }
  return {code, "application/json", nlohmann::json({{"error", status.message()}}).dump() + "\n"};
}

void WriteResponse(int fd, const Response& response) {
  const int code = response.code;
  const char* reason = code == 200   ? "OK"
                       : code == 403 ? "Forbidden"
                       : code == 404 ? "Not Found"
                       : code == 408 ? "Request Timeout"
                       : code == 409 ? "Conflict"
                       : code == 413 ? "Payload Too Large"
                       : code == 503 ? "Service Unavailable"
                       : code < 500  ? "Bad Request"
                                     : "Error";
  std::string out =
      "HTTP/1.0 " + std::to_string(code) + " " + reason + "\r\nContent-Type: " + response.type +
      "\r\nContent-Length: " + std::to_string(response.body.size()) + "\r\n\r\n" + response.body;
  (void)WriteFull(fd, std::string_view(out));
}

}  // namespace imgfs::control
