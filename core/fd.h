// RAII for kernel resources: a move-only file descriptor and a read-only mapping, plus the one
// EINTR-retrying helper for whole reads and writes. Every fd this project opens is O_CLOEXEC.
// Thread-compatible: one owner per object; the helpers are safe from any thread.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <span>
#include <string>
#include <utility>

#include "core/status.h"

namespace imgfs {

// Calls f() until it does not fail with EINTR.
template <typename F>
auto RetryOnEintr(F f) {
  decltype(f()) r;
  do {
    r = f();
  } while (r == -1 && errno == EINTR);
  return r;
}

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.Release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) Reset(o.Release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// open(2) with O_CLOEXEC added; the error names the path.
Result<UniqueFd> OpenFile(const std::string& path, int flags, mode_t mode = 0644);
Result<UniqueFd> OpenAt(int dirfd, const std::string& path, int flags, mode_t mode = 0644);

// Reads exactly buf.size() bytes unless EOF comes first; returns the count read.
Result<size_t> ReadFull(int fd, std::span<uint8_t> buf);
Result<size_t> PreadFull(int fd, std::span<uint8_t> buf, uint64_t offset);
Status WriteFull(int fd, std::span<const uint8_t> buf);
inline Status WriteFull(int fd, std::string_view s) {
  return WriteFull(fd, {reinterpret_cast<const uint8_t*>(s.data()), s.size()});
}

Result<std::string> ReadFileToString(const std::string& path, size_t max_size);
// Writes to PATH.tmp, fsyncs (unless !DURABLE: readers still see the old file or the new one,
// but a crash of the machine may leave neither), renames over PATH.
Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode = 0644,
                       bool durable = true);

// A read-only private mapping of a whole file. Move-only.
class MappedFile {
 public:
  MappedFile() = default;
  ~MappedFile();
  MappedFile(MappedFile&& o) noexcept { *this = std::move(o); }
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  static Result<MappedFile> Open(const std::string& path);
  std::span<const uint8_t> data() const { return {static_cast<const uint8_t*>(addr_), size_}; }

 private:
  void* addr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace imgfs
