// The file:// remote store: objects are files under a directory (a local disk, NFS, a bind
// mount). Reads are pread(2) ranges; writes go to a uniquely named temporary file in the target
// directory, are fsynced, renamed into place and the directory fsynced, so a reader sees a whole
// object or none and a crash leaves at most a stray "*.tmp.*" file.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>

#include "core/digest.h"
#include "core/fd.h"
#include "imgfs/remote_backends.h"

namespace imgfs::remote::internal {
namespace {

// mkdir -p for the directories of `path` below `base` (which must exist or be creatable).
Status MakeParentDirs(const std::string& path) {
  for (size_t pos = 1; (pos = path.find('/', pos)) != std::string::npos; ++pos) {
    std::string dir = path.substr(0, pos);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
      return Status::FromErrno(errno, "mkdir " + dir);
  }
  return Status::Ok();
}

Status FsyncDir(const std::string& dir) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(dir, O_RDONLY | O_DIRECTORY));
  if (::fsync(fd.get()) != 0) return Status::FromErrno(errno, "fsync " + dir);
  return Status::Ok();
}

class FileRemoteStore final : public RemoteStore {
 public:
  explicit FileRemoteStore(std::string dir) : dir_(std::move(dir)) {
    while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
  }

  std::string Describe() const override { return "file://" + dir_; }

  Result<std::string> ReadBlobRange(const Digest& digest, uint64_t offset,
                                    uint64_t length) override {
    std::string path = PathOf(BlobObjectName(digest));
    if (length > kMaxReadSize || offset > UINT64_MAX - length)
      return Status::InvalidArgument(path + ": range read of " + std::to_string(length) +
                                     " bytes at " + std::to_string(offset) + " refused");
    ASSIGN_OR_RETURN(UniqueFd fd, OpenObject(path));
    std::string out(length, '\0');
    ASSIGN_OR_RETURN(
        size_t n,
        PreadFull(fd.get(), {reinterpret_cast<uint8_t*>(out.data()), out.size()}, offset));
    if (n != length)
      return Status::Corruption(path + ": short read: " + std::to_string(n) + " of " +
                                std::to_string(length) + " bytes at offset " +
                                std::to_string(offset));
    return out;
  }

  Result<std::string> ReadBlob(const Digest& digest, uint64_t max_size) override {
    return ReadWhole(PathOf(BlobObjectName(digest)), max_size);
  }

  Status WriteBlob(const Digest& digest, std::string_view data) override {
#ifndef NDEBUG
    if (Sha256(data) != digest)
      return Status::InvalidArgument("WriteBlob " + digest.ToString() +
                                     ": data has another digest");
#endif
    std::string path = PathOf(BlobObjectName(digest));
    ASSIGN_OR_RETURN(bool exists, Exists(path));
    if (exists) return Status::Ok();
    return WriteObject(path, data);
  }

  Result<bool> HasBlob(const Digest& digest) override {
    return Exists(PathOf(BlobObjectName(digest)));
  }

  Result<std::string> ReadCompressedIndex(const Digest& index_digest, uint64_t max_size) override {
    return ReadWhole(PathOf(CompressedIndexObjectName(index_digest)), max_size);
  }

  Result<bool> HasCompressedIndex(const Digest& index_digest) override {
    return Exists(PathOf(CompressedIndexObjectName(index_digest)));
  }

  Status WriteCompressedIndex(const Digest& index_digest, std::string_view frame) override {
    return WriteObject(PathOf(CompressedIndexObjectName(index_digest)), frame);
  }

  Result<std::string> ReadTrace(const Digest& index_digest, uint64_t max_size) override {
    return ReadWhole(PathOf(TraceObjectName(index_digest)), max_size);
  }

  Status WriteTrace(const Digest& index_digest, std::string_view data) override {
    return WriteObject(PathOf(TraceObjectName(index_digest)), data);
  }

 private:
  std::string PathOf(const std::string& object) const { return dir_ + "/" + object; }

  static Result<UniqueFd> OpenObject(const std::string& path) {
    auto fd = OpenFile(path, O_RDONLY);
    if (!fd.ok() && fd.status().code() == Code::kNotFound)
      return Status::NotFound(path + ": no such object");
    return fd;
  }

  static Result<std::string> ReadWhole(const std::string& path, uint64_t max_size) {
    ASSIGN_OR_RETURN(UniqueFd fd, OpenObject(path));
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(errno, "stat " + path);
    uint64_t size = static_cast<uint64_t>(st.st_size);
    if (size > max_size || size > kMaxReadSize)
      return Status::ResourceExhausted(path + ": " + std::to_string(size) +
                                       " bytes, more than the " + std::to_string(max_size) +
                                       " allowed");
    std::string out(size, '\0');
    ASSIGN_OR_RETURN(size_t n,
                     PreadFull(fd.get(), {reinterpret_cast<uint8_t*>(out.data()), out.size()}, 0));
    if (n != size) return Status::Corruption(path + ": file shrank while being read");
    return out;
  }

  static Result<bool> Exists(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) return S_ISREG(st.st_mode);
    if (errno == ENOENT || errno == ENOTDIR) return false;
    return Status::FromErrno(errno, "stat " + path);
  }

  // tmp + fsync + rename + fsync(dir). Concurrent writers of one object each use their own
  // temporary name; the last rename wins, and both wrote the same content-addressed bytes.
  Status WriteObject(const std::string& path, std::string_view data) {
    RETURN_IF_ERROR(MakeParentDirs(path));
    std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." +
                      std::to_string(tmp_counter_.fetch_add(1));
    {
      ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644));
      Status s = WriteFull(fd.get(), data).WithContext("write " + tmp);
      if (s.ok() && ::fsync(fd.get()) != 0) s = Status::FromErrno(errno, "fsync " + tmp);
      if (!s.ok()) {
        ::unlink(tmp.c_str());
        return s;
      }
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      Status s = Status::FromErrno(errno, "rename " + tmp);
      ::unlink(tmp.c_str());
      return s;
    }
    return FsyncDir(path.substr(0, path.rfind('/')));
  }

  std::string dir_;
  std::atomic<uint64_t> tmp_counter_{0};
};

}  // namespace

Result<std::unique_ptr<RemoteStore>> OpenFileRemoteStore(const std::string& dir) {
  if (dir.empty() || dir[0] != '/')
    return Status::InvalidArgument("remote store " + dir + ": not an absolute path");
  return std::unique_ptr<RemoteStore>(new FileRemoteStore(dir));
}

}  // namespace imgfs::remote::internal
