#include "core/fd.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

namespace imgfs {

Result<UniqueFd> OpenFile(const std::string& path, int flags, mode_t mode) {
  return OpenAt(AT_FDCWD, path, flags, mode);
}

Result<UniqueFd> OpenAt(int dirfd, const std::string& path, int flags, mode_t mode) {
  int fd = RetryOnEintr([&] { return ::openat(dirfd, path.c_str(), flags | O_CLOEXEC, mode); });
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  return UniqueFd(fd);
}

Result<size_t> ReadFull(int fd, std::span<uint8_t> buf) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = RetryOnEintr([&] { return ::read(fd, buf.data() + done, buf.size() - done); });
    if (n < 0) return Status::FromErrno(errno, "read");
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

Result<size_t> PreadFull(int fd, std::span<uint8_t> buf, uint64_t offset) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = RetryOnEintr(
        [&] { return ::pread(fd, buf.data() + done, buf.size() - done, offset + done); });
    if (n < 0) return Status::FromErrno(errno, "pread");
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

Status WriteFull(int fd, std::span<const uint8_t> buf) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = RetryOnEintr([&] { return ::write(fd, buf.data() + done, buf.size() - done); });
    if (n < 0) return Status::FromErrno(errno, "write");
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Result<std::string> ReadFileToString(const std::string& path, size_t max_size) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDONLY));
  std::string out;
  uint8_t buf[65536];
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, ReadFull(fd.get(), buf));
    out.append(reinterpret_cast<char*>(buf), n);
    if (out.size() > max_size)
      return Status::ResourceExhausted(path + ": larger than " + std::to_string(max_size) +
                                       " bytes");
    if (n < sizeof buf) break;
  }
  return out;
}

Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode, bool durable) {
  std::string tmp = path + ".tmp";
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode));
  RETURN_IF_ERROR(WriteFull(fd.get(), data).WithContext(tmp));
  if (durable && ::fsync(fd.get()) != 0) return Status::FromErrno(errno, "fsync " + tmp);
  fd.Reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::FromErrno(errno, "rename " + tmp);
  return Status::Ok();
}

MappedFile::~MappedFile() {
  if (addr_ && size_) ::munmap(addr_, size_);
}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    if (addr_ && size_) ::munmap(addr_, size_);
    addr_ = std::exchange(o.addr_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

Result<MappedFile> MappedFile::Open(const std::string& path) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDONLY));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(errno, "stat " + path);
  MappedFile m;
  m.size_ = static_cast<size_t>(st.st_size);
  if (m.size_ == 0) return m;
  void* p = ::mmap(nullptr, m.size_, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (p == MAP_FAILED) {
    m.size_ = 0;
    return Status::FromErrno(errno, "mmap " + path);
  }
  m.addr_ = p;
  return m;
}

}  // namespace imgfs
