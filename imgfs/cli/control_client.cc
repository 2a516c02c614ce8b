#include "imgfs/cli/control_client.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

#include "core/fd.h"

namespace imgfs::cli {

Result<ControlReply> ControlRequest(const std::string& socket_path, const std::string& method,
                                    const std::string& path, const std::string& body) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path)
    return Status::InvalidArgument("socket path too long: " + socket_path);
  std::strcpy(addr.sun_path, socket_path.c_str());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status::FromErrno(errno, "socket");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return Status::Unavailable("no imgfs daemon at " + socket_path);
  std::string req = method + " " + path +
                    " HTTP/1.0\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                    body;
  RETURN_IF_ERROR(WriteFull(fd.get(), req));
  std::string resp;
  char buf[65536];
  for (;;) {
    ssize_t n = RetryOnEintr([&] { return ::read(fd.get(), buf, sizeof buf); });
    if (n < 0 && errno == ECONNRESET)  // it was exiting (its last mount went away) as we asked
      return Status::Unavailable("the imgfs daemon at " + socket_path + " went away");
    if (n < 0) return Status::FromErrno(errno, "read from daemon");
    if (n == 0) break;
    resp.append(buf, static_cast<size_t>(n));
  }
  size_t sp = resp.find(' '), end = resp.find("\r\n\r\n");
  if (sp == std::string::npos || end == std::string::npos)
    return Status::Unavailable("the imgfs daemon at " + socket_path +
                               " closed the connection without an answer");
  return ControlReply{std::atoi(resp.c_str() + sp + 1), resp.substr(end + 4)};
}

Result<nlohmann::json> ControlCall(const std::string& socket_path, const std::string& method,
                                   const std::string& path, const nlohmann::json& body) {
  ASSIGN_OR_RETURN(ControlReply reply,
                   ControlRequest(socket_path, method, path, body.is_null() ? "" : body.dump()));
  nlohmann::json j = nlohmann::json::parse(reply.body, nullptr, false);
  if (reply.code != 200) {
    std::string msg =
        !j.is_discarded() && j.is_object() ? j.value("error", reply.body) : reply.body;
    // (a 503 stays an IOError: a caller retries only when no daemon answered at all)
    switch (reply.code) {
      case 400:
        return Status::InvalidArgument(msg);
      case 403:
        return Status::PermissionDenied(msg);
      case 404:
        return Status::NotFound(msg);
      case 409:
        return Status::AlreadyExists(msg);
      case 413:
        return Status::ResourceExhausted(msg);
      default:
        return Status::IOError(msg);
    }
  }
  if (j.is_discarded()) return Status::IOError("the imgfs daemon answered with malformed JSON");
  return j;
}

}  // namespace imgfs::cli
