#include "indexer/export.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "core/chunk_codec.h"
#include "core/fd.h"
#include "indexer/export_walk.h"

namespace imgfs::indexer {
namespace {

bool AllZero(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == 0; });
}

Status SetXattrs(const ImageIndex& index, uint32_t ino, const std::string& proc_path) {
  for (const auto& [key, value] : index.Xattrs(ino)) {
    std::string k(key);
    if (::lsetxattr(proc_path.c_str(), k.c_str(), value.data(), value.size(), 0) != 0)
      return Status::FromErrno(errno, "set xattr " + k);
  }
  return Status::Ok();
}

// Owner, mode, xattrs, in that order: chown clears setuid bits and security.capability.
Status ApplyAttrs(const ImageIndex& index, uint32_t ino, int root_fd, const std::string& path) {
  InodeAttrs a = index.Attrs(ino);
  if (::fchownat(root_fd, path.c_str(), a.uid, a.gid, AT_SYMLINK_NOFOLLOW) != 0)
    return Status::FromErrno(errno, "chown");
  if (!S_ISLNK(a.mode) && ::fchmodat(root_fd, path.c_str(), a.mode & 07777, 0) != 0)
    return Status::FromErrno(errno, "chmod");
  return SetXattrs(index, ino, "/proc/self/fd/" + std::to_string(root_fd) + "/" + path);
}

Status SetMtime(const ImageIndex& index, uint32_t ino, int root_fd, const std::string& path) {
  InodeAttrs a = index.Attrs(ino);
  struct timespec ts[2] = {{a.mtime_sec, a.mtime_nsec}, {a.mtime_sec, a.mtime_nsec}};
  if (::utimensat(root_fd, path.empty() ? "." : path.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0)
    return Status::FromErrno(errno, "set mtime");
  return Status::Ok();
}

Status WriteFileContent(const ImageIndex& index, ChunkSource& chunks, uint32_t ino, int fd) {
  std::string data;
  for (uint32_t i = 0, n = index.FileChunkCount(ino); i < n; ++i) {
    FileChunkRef ref = index.FileChunk(ino, i);
    RETURN_IF_ERROR(ReadChunk(index, chunks, ref.chunk, &data));
    if (AllZero(data)) continue;  // left as a hole; ftruncate below sets the size
    size_t done = 0;
    while (done < data.size()) {
      ssize_t w = RetryOnEintr([&] {
        return ::pwrite(fd, data.data() + done, data.size() - done, ref.file_offset + done);
      });
      if (w < 0) return Status::FromErrno(errno, "write");
      done += static_cast<size_t>(w);
    }
  }
  if (::ftruncate(fd, static_cast<off_t>(index.Attrs(ino).size)) != 0)
    return Status::FromErrno(errno, "truncate");
  return Status::Ok();
}

Status CreateEntry(const ImageIndex& index, ChunkSource& chunks, int root_fd,
                   const std::string& path, uint32_t ino, const std::string& link_to) {
  if (!link_to.empty()) {
    if (::linkat(root_fd, link_to.c_str(), root_fd, path.c_str(), 0) != 0)
      return Status::FromErrno(errno, "link to " + link_to);
    return Status::Ok();
  }
  InodeAttrs a = index.Attrs(ino);
  switch (a.mode & S_IFMT) {
    case S_IFDIR:
      if (::mkdirat(root_fd, path.c_str(), 0700) != 0) return Status::FromErrno(errno, "mkdir");
      break;
    case S_IFREG: {
      ASSIGN_OR_RETURN(UniqueFd fd,
                       OpenAt(root_fd, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600));
      RETURN_IF_ERROR(WriteFileContent(index, chunks, ino, fd.get()));
      break;
    }
    case S_IFLNK:
      if (::symlinkat(std::string(index.SymlinkTarget(ino)).c_str(), root_fd, path.c_str()) != 0)
        return Status::FromErrno(errno, "symlink");
      break;
    default:  // devices, fifos, sockets
      if (::mknodat(root_fd, path.c_str(), (a.mode & S_IFMT) | 0600,
                    makedev(a.rdev_major, a.rdev_minor)) != 0)
        return Status::FromErrno(errno, "mknod");
  }
  RETURN_IF_ERROR(ApplyAttrs(index, ino, root_fd, path));
  if (!S_ISDIR(a.mode)) RETURN_IF_ERROR(SetMtime(index, ino, root_fd, path));
  return Status::Ok();
}

}  // namespace

Status ExportToDirectory(const ImageIndex& index, ChunkSource& chunks, const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Status::FromErrno(errno, "create " + dir);
  ASSIGN_OR_RETURN(UniqueFd root, OpenFile(dir, O_RDONLY | O_DIRECTORY));
  {
    ASSIGN_OR_RETURN(UniqueFd probe, OpenFile(dir, O_RDONLY | O_DIRECTORY));
    DIR* d = ::fdopendir(probe.Release());
    int entries = 0;
    while (struct dirent* e = ::readdir(d))
      if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) ++entries;
    ::closedir(d);
    if (entries) return Status::AlreadyExists(dir + " is not empty");
  }
  int root_fd = root.get();
  Status s = Walk(
      index,
      [&](const std::string& path, uint32_t ino, const std::string& link_to) {
        return CreateEntry(index, chunks, root_fd, path, ino, link_to).WithContext(path);
      },
      [&](const std::string& path, uint32_t ino) -> Status {
        // Directory attributes last: its mode may forbid writing into it, its mtime changes
        // with every entry created inside.
        std::string p = path.empty() ? "." : path;
        if (path.empty()) RETURN_IF_ERROR(ApplyAttrs(index, ino, root_fd, p).WithContext("/"));
        return SetMtime(index, ino, root_fd, path).WithContext(p);
      });
  return s.WithContext("export to " + dir);
}

}  // namespace imgfs::indexer
