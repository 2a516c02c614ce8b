// recvtty SOCKET: listens on a unix socket, receives one pty master over SCM_RIGHTS (what an OCI
// runtime sends to --console-socket), then copies the pty's output to stdout until EOF/EIO.
// A test helper for runc-lite's tty tests.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: recvtty SOCKET\n");
    return 2;
  }
  int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, argv[1], sizeof addr.sun_path - 1);
  unlink(argv[1]);
  if (bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(ls, 1) != 0) {
    perror("bind/listen");
    return 1;
  }
  int c = accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
  if (c < 0) return 1;
  char byte;
  iovec iov{&byte, 1};
  char buf[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = buf;
  msg.msg_controllen = sizeof buf;
  if (recvmsg(c, &msg, MSG_CMSG_CLOEXEC) <= 0) return 1;
  cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  if (!cm || cm->cmsg_type != SCM_RIGHTS) {
    fprintf(stderr, "no fd received\n");
    return 1;
  }
  int master;
  memcpy(&master, CMSG_DATA(cm), sizeof master);
  printf("RECEIVED_PTY\n");
  fflush(stdout);
  char data[4096];
  for (;;) {
    ssize_t n = read(master, data, sizeof data);
    if (n <= 0) break;
    fwrite(data, 1, static_cast<size_t>(n), stdout);
    fflush(stdout);
  }
  return 0;
}
