#include "runc-lite/child_util.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "runc-lite/init_plan.h"

namespace imgfs::runc::child {

size_t StrLen(const char* s) noexcept {
  size_t n = 0;
  while (s[n]) ++n;
  return n;
}

void AppendStr(char* buf, size_t* len, size_t cap, const char* s) noexcept {
  while (*s && *len + 1 < cap) buf[(*len)++] = *s++;
  buf[*len] = 0;
}

void AppendNum(char* buf, size_t* len, size_t cap, long long v) noexcept {
  char tmp[24];
  int n = 0;
  bool neg = v < 0;
  unsigned long long u = neg ? -static_cast<unsigned long long>(v) : v;
  do {
    tmp[n++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u);
  if (neg) tmp[n++] = '-';
  while (n > 0 && *len + 1 < cap) buf[(*len)++] = tmp[--n];
  buf[*len] = 0;
}

const char* FdPath(char* buf, int fd) noexcept {
  size_t len = 0;
  buf[0] = 0;
  AppendStr(buf, &len, 32, "/proc/self/fd/");
  AppendNum(buf, &len, 32, fd);
  return buf;
}

void Die(int sync_fd, const char* what, int err) noexcept {
  if (sync_fd >= 0) {
    SyncMsg msg;
    msg.type = kSyncError;
    msg.err = err;
    size_t len = 0;
    AppendStr(msg.text, &len, sizeof msg.text, what);
    if (::send(sync_fd, &msg, sizeof msg, MSG_NOSIGNAL) == sizeof msg) ::_exit(127);
  }
  {
    // After `start` nobody listens on the sync socket: the container's stderr is all we have.
    char line[700];
    size_t len = 0;
    line[0] = 0;
    AppendStr(line, &len, sizeof line, "runc-lite: container init: ");
    AppendStr(line, &len, sizeof line, what);
    AppendStr(line, &len, sizeof line, ": errno ");
    AppendNum(line, &len, sizeof line, err);
    AppendStr(line, &len, sizeof line, "\n");
    (void)WriteAll(2, line, len);
  }
  ::_exit(127);
}

int WriteAll(int fd, const char* s, size_t n) noexcept {
  while (n > 0) {
    ssize_t w = ::write(fd, s, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    s += w;
    n -= static_cast<size_t>(w);
  }
  return 0;
}

namespace {

// Walks REL component by component with O_NOFOLLOW; refuses symlinks. Fallback for old kernels.
int WalkNoSymlinks(int rootfd, const char* rel, int flags) noexcept {
  int cur = ::fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
  if (cur < 0) return -1;
  char comp[256];
  const char* p = rel;
  while (*p) {
    while (*p == '/') ++p;
    if (!*p) break;
    size_t n = 0;
    while (p[n] && p[n] != '/') ++n;
    if (n >= sizeof comp) {
      ::close(cur);
      errno = ENAMETOOLONG;
      return -1;
    }
    memcpy(comp, p, n);
    comp[n] = 0;
    p += n;
    while (*p == '/') ++p;
    bool last = *p == 0;
    if (strcmp(comp, "..") == 0) {
      ::close(cur);
      errno = EXDEV;
      return -1;
    }
    int next = ::openat(cur, comp, (last ? flags : O_PATH) | O_NOFOLLOW | O_CLOEXEC);
    ::close(cur);
    if (next < 0) return -1;
    struct stat st;
    if (::fstat(next, &st) == 0 && S_ISLNK(st.st_mode)) {
      ::close(next);
      errno = ELOOP;
      return -1;
    }
    cur = next;
  }
  return cur;
}

}  // namespace

int OpenInRoot(int rootfd, const char* rel, int flags) noexcept {
  while (*rel == '/') ++rel;
  if (!*rel) rel = ".";
  open_how how;
  memset(&how, 0, sizeof how);
  how.flags = static_cast<unsigned long long>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  long fd = ::syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
  if (fd < 0 && errno == ENOSYS) return WalkNoSymlinks(rootfd, rel, flags);
  return static_cast<int>(fd);
}

int MkdirAllInRoot(int rootfd, const char* rel, bool last_is_file) noexcept {
  char path[4096];
  size_t plen = StrLen(rel);
  if (plen >= sizeof path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(path, rel, plen + 1);
  // A dangling symlink on the way is followed inside the root (its target is created), at most
  // 40 times, like the kernel's own limit.
  for (int hops = 0; hops < 40; ++hops) {
    bool restarted = false;
    size_t pos = 0;
    while (path[pos] == '/') ++pos;
    while (path[pos] && !restarted) {
      size_t n = 0;
      while (path[pos + n] && path[pos + n] != '/') ++n;
      size_t end = pos + n;
      size_t next = end;
      while (path[next] == '/') ++next;
      bool last = path[next] == 0;
      char saved = path[end];
      path[end] = 0;
      int fd = OpenInRoot(rootfd, path, O_PATH);
      if (fd >= 0) {
        ::close(fd);
        path[end] = saved;
        pos = next;
        continue;
      }
      if (errno != ENOENT) return -1;
      // Create the component inside its (root-resolved) parent.
      char name[256];
      if (n >= sizeof name) {
        errno = ENAMETOOLONG;
        return -1;
      }
      memcpy(name, path + pos, n);
      name[n] = 0;
      char psaved = path[pos];
      path[pos] = 0;
      int parent = OpenInRoot(rootfd, path, O_PATH | O_DIRECTORY);
      path[pos] = psaved;
      if (parent < 0) return -1;
      char target[2048];
      ssize_t tl = ::readlinkat(parent, name, target, sizeof target - 1);
      if (tl >= 0) {
        // Dangling symlink: continue with PARENT/TARGET/REST (TARGET absolute = from the root).
        target[tl] = 0;
        char rebuilt[4096];
        size_t len = 0;
        rebuilt[0] = 0;
        if (target[0] != '/') {
          path[pos] = 0;
          AppendStr(rebuilt, &len, sizeof rebuilt, path);
          path[pos] = psaved;
          AppendStr(rebuilt, &len, sizeof rebuilt, "/");
        }
        AppendStr(rebuilt, &len, sizeof rebuilt, target);
        path[end] = saved;
        if (!last) {
          AppendStr(rebuilt, &len, sizeof rebuilt, "/");
          AppendStr(rebuilt, &len, sizeof rebuilt, path + next);
        }
        ::close(parent);
        if (len + 1 >= sizeof rebuilt) {
          errno = ENAMETOOLONG;
          return -1;
        }
        memcpy(path, rebuilt, len + 1);
        restarted = true;
        break;
      }
      int rc;
      if (last && last_is_file) {
        rc = ::openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (rc >= 0) {
          ::close(rc);
          rc = 0;
        }
      } else {
        rc = ::mkdirat(parent, name, 0755);
      }
      int saved_errno = errno;
      ::close(parent);
      if (rc < 0 && saved_errno != EEXIST) {
        errno = saved_errno;
        return -1;
      }
      path[end] = saved;
      pos = next;
    }
    if (!restarted) return 0;
  }
  errno = ELOOP;
  return -1;
}

}  // namespace imgfs::runc::child
