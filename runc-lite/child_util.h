// Helpers for code that runs between clone() and execve(): only syscalls, fixed buffers, no
// allocation, no locks (async-signal-safe). All fds they open are O_CLOEXEC.
// Thread-safety: for the single-threaded child after clone(); nothing here locks.
#pragma once

#include <cstddef>

namespace imgfs::runc::child {

// Sends a kSyncError message "WHAT" with ERR over SYNC_FD (ignored if SYNC_FD < 0), then
// _exit(127).
[[noreturn]] void Die(int sync_fd, const char* what, int err) noexcept;
// Formats "/proc/self/fd/FD" into BUF (at least 32 bytes).
const char* FdPath(char* buf, int fd) noexcept;
// Appends decimal V to BUF at *LEN (bounded by CAP).
void AppendNum(char* buf, size_t* len, size_t cap, long long v) noexcept;
void AppendStr(char* buf, size_t* len, size_t cap, const char* s) noexcept;

// Opens REL (relative, may be "") beneath ROOTFD with every component resolved as if ROOTFD were
// "/" (openat2 RESOLVE_IN_ROOT; where openat2 is missing, a walk that refuses any symlink).
// Returns the fd or -1 with errno.
int OpenInRoot(int rootfd, const char* rel, int flags) noexcept;
// Creates REL beneath ROOTFD like mkdir -p (the last component a file when LAST_IS_FILE), never
// following a symlink out of the root. Returns 0 or -1 with errno.
int MkdirAllInRoot(int rootfd, const char* rel, bool last_is_file) noexcept;
// Writes all of S to FD; returns 0 or -1.
int WriteAll(int fd, const char* s, size_t n) noexcept;
size_t StrLen(const char* s) noexcept;

}  // namespace imgfs::runc::child
