#include "imgfs/daemon/fd_message.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace imgfs::daemon {

Status SendFdMessage(int sock, std::string_view text, int fd) {
  if (text.size() > kMaxFdMessage) return Status::InvalidArgument("message too large");
  iovec iov = {const_cast<char*>(text.data()), text.size()};
  msghdr msg;
  std::memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  if (fd >= 0) {
    std::memset(control, 0, sizeof control);
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  ssize_t n = RetryOnEintr([&] { return ::sendmsg(sock, &msg, MSG_NOSIGNAL); });
  if (n < 0) return Status::FromErrno(errno, "sendmsg");
  if (static_cast<size_t>(n) != text.size()) return Status::IOError("sendmsg: message cut short");
  return Status::Ok();
}

Result<FdMessage> ReceiveFdMessage(int sock) {
  std::vector<char> buf(kMaxFdMessage + 1);
  iovec iov = {buf.data(), buf.size()};
  msghdr msg;
  std::memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  // Room for a few descriptors, so that a peer sending more is noticed and they are closed.
  alignas(cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = RetryOnEintr([&] { return ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); });
  if (n < 0) return Status::FromErrno(errno, "recvmsg");
  FdMessage out;
  std::vector<UniqueFd> fds;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      fds.emplace_back(fd);
    }
  }
  if (n == 0 && fds.empty()) return Status::NotFound("end of stream");
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) return Status::IOError("message cut short");
  if (fds.size() > 1) return Status::IOError("message with more than one descriptor");
  if (!fds.empty()) out.fd = std::move(fds[0]);
  out.text.assign(buf.data(), static_cast<size_t>(n));
  return out;
}

}  // namespace imgfs::daemon
