// The "dir:PATH" source: a plain rootfs directory on disk, applied as a single layer.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <algorithm>
#include <map>
#include <utility>

#include "core/fd.h"
#include "core/log.h"
#include "indexer/image_source.h"

namespace imgfs::indexer {
namespace {

constexpr int kMaxDepth = 2048;

class FdSource : public ByteSource {
 public:
  explicit FdSource(int fd) : fd_(fd) {}
  Result<size_t> Read(std::span<uint8_t> buf) override {
    ssize_t n = RetryOnEintr([&] { return ::read(fd_, buf.data(), buf.size()); });
    if (n < 0) return Status::FromErrno(errno, "read");
    return static_cast<size_t>(n);
  }

 private:
  int fd_;
};

Result<std::map<std::string, std::string>> ReadXattrs(const std::string& path) {
  std::map<std::string, std::string> out;
  std::string names(4096, '\0');
  ssize_t n;
  while ((n = ::llistxattr(path.c_str(), names.data(), names.size())) < 0 && errno == ERANGE) {
    names.resize(names.size() * 4);
  }
  if (n < 0) {
    if (errno == ENOTSUP) return out;
    return Status::FromErrno(errno, "llistxattr " + path);
  }
  for (size_t i = 0; i < static_cast<size_t>(n);) {
    std::string name(names.c_str() + i);
    i += name.size() + 1;
    if (name.empty()) continue;
    std::string value(256, '\0');
    ssize_t v;
    while ((v = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size())) < 0 &&
           errno == ERANGE) {
      value.resize(value.size() * 4);
      if (value.size() > (1 << 20)) break;
    }
    if (v < 0) {
      if (errno == ENODATA) continue;  // removed meanwhile
      return Status::FromErrno(errno, "lgetxattr " + path + " " + name);
    }
    value.resize(static_cast<size_t>(v));
    out[name] = std::move(value);
  }
  return out;
}

class DirWalker {
 public:
  DirWalker(std::string root, LayerApplier* applier) : root_(std::move(root)), applier_(applier) {}

  Status Run() {
    ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(root_, O_RDONLY | O_DIRECTORY));
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(errno, "fstat " + root_);
    TarEntry e;
    RETURN_IF_ERROR(Fill(st, root_, "", &e));
    e.type = TarEntryType::kDirectory;
    RETURN_IF_ERROR(applier_->Apply(e, nullptr));
    return Walk(fd.get(), "", 0);
  }

 private:
  Status Fill(const struct stat& st, const std::string& full, std::string rel, TarEntry* e) {
    *e = TarEntry();
    e->path = std::move(rel);
    e->mode = st.st_mode & 07777;
    e->uid = st.st_uid;
    e->gid = st.st_gid;
    e->mtime_sec = st.st_mtim.tv_sec;
    e->mtime_nsec = static_cast<uint32_t>(st.st_mtim.tv_nsec);
    ASSIGN_OR_RETURN(e->xattrs, ReadXattrs(full));
    return Status::Ok();
  }

  Status Walk(int dirfd, const std::string& rel, int depth) {
    if (depth > kMaxDepth) return Status::InvalidArgument(root_ + "/" + rel + ": tree too deep");
    int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return Status::FromErrno(errno, "dup");
    DIR* d = ::fdopendir(dup);
    if (!d) {
      ::close(dup);
      return Status::FromErrno(errno, "fdopendir " + root_ + "/" + rel);
    }
    std::vector<std::string> names;
    errno = 0;
    while (struct dirent* de = ::readdir(d)) {
      std::string n = de->d_name;
      if (n != "." && n != "..") names.push_back(std::move(n));
    }
    int err = errno;
    ::closedir(d);
    if (err) return Status::FromErrno(err, "readdir " + root_ + "/" + rel);
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      std::string child_rel = rel.empty() ? name : rel + "/" + name;
      std::string full = root_ + "/" + child_rel;
      struct stat st;
      if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return Status::FromErrno(errno, "lstat " + full);
      }
      TarEntry e;
      if (S_ISSOCK(st.st_mode)) {  // tar cannot carry sockets either
        IMGFS_LOG(Warning) << "dir source: skipping socket " << full;
        continue;
      }
      RETURN_IF_ERROR(Fill(st, full, child_rel, &e));
      if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
        e.type = S_ISCHR(st.st_mode)   ? TarEntryType::kCharDevice
                 : S_ISBLK(st.st_mode) ? TarEntryType::kBlockDevice
                                       : TarEntryType::kFifo;
        e.rdev_major = major(st.st_rdev);
        e.rdev_minor = minor(st.st_rdev);
        e.size = 0;
        RETURN_IF_ERROR(applier_->Apply(e, nullptr));
      } else if (S_ISDIR(st.st_mode)) {
        e.type = TarEntryType::kDirectory;
        RETURN_IF_ERROR(applier_->Apply(e, nullptr));
        ASSIGN_OR_RETURN(UniqueFd sub, OpenAt(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
        RETURN_IF_ERROR(Walk(sub.get(), child_rel, depth + 1));
      } else if (S_ISLNK(st.st_mode)) {
        std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
        ssize_t n = ::readlinkat(dirfd, name.c_str(), target.data(), target.size());
        if (n < 0) return Status::FromErrno(errno, "readlink " + full);
        target.resize(static_cast<size_t>(n));
        e.type = TarEntryType::kSymlink;
        e.link_target = std::move(target);
        RETURN_IF_ERROR(applier_->Apply(e, nullptr));
      } else if (S_ISREG(st.st_mode)) {
        auto key = std::make_pair(st.st_dev, st.st_ino);
        if (st.st_nlink > 1) {
          auto it = links_.find(key);
          if (it != links_.end()) {
            e.type = TarEntryType::kHardlink;
            e.link_target = it->second;
            RETURN_IF_ERROR(applier_->Apply(e, nullptr));
            continue;
          }
          links_.emplace(key, child_rel);
        }
        e.type = TarEntryType::kRegular;
        e.size = static_cast<uint64_t>(st.st_size);
        ASSIGN_OR_RETURN(UniqueFd f, OpenAt(dirfd, name, O_RDONLY | O_NOFOLLOW));
        FdSource src(f.get());
        RETURN_IF_ERROR(applier_->Apply(e, &src));
      }
    }
    return Status::Ok();
  }

  std::string root_;
  LayerApplier* applier_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;
};

}  // namespace

Status ApplyRootfsDirectory(const std::string& path, LayerApplier* applier) {
  DirWalker walker(path, applier);
  RETURN_IF_ERROR(walker.Run());
  applier->EndLayer();
  return Status::Ok();
}

}  // namespace imgfs::indexer
