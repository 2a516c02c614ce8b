// The flattened, merged file tree of an image, as layer application builds it and the index
// writer consumes it. In memory only; the image index (core/image_index.h) is its on-disk form.
//
// A hardlink group is one Inode shared (shared_ptr) by several directory entries, so nlink is the
// number of entries that point at it. Not thread-safe.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/digest.h"

namespace imgfs::indexer {

// One content-defined chunk of a regular file, in file order.
struct ChunkSpan {
  Digest digest;        // SHA-256 of the uncompressed bytes
  uint32_t length = 0;  // uncompressed bytes
};

// The chunks of one regular file. Filled in by ContentWriter, possibly after AddFile returns
// (chunking runs on worker threads); complete once ContentWriter::Finish() has returned OK.
struct FileContent {
  uint64_t size = 0;
  std::vector<ChunkSpan> chunks;
};

struct Inode {
  uint32_t mode = S_IFDIR | 0755;  // type bits and permission bits (incl. setuid/setgid/sticky)
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime_sec = 0;
  uint32_t mtime_nsec = 0;
  uint32_t rdev_major = 0;  // char and block devices
  uint32_t rdev_minor = 0;
  uint64_t size = 0;        // regular files: content size; symlinks: target length
  std::string link_target;  // symlinks
  std::map<std::string, std::string> xattrs;  // name -> value, e.g. "security.capability"
  std::shared_ptr<FileContent> content;       // regular files
  std::map<std::string, std::shared_ptr<Inode>> children;  // directories, sorted by name bytes

  bool IsDir() const { return S_ISDIR(mode); }
  bool IsRegular() const { return S_ISREG(mode); }
  bool IsSymlink() const { return S_ISLNK(mode); }
};

// The root of a tree. The root inode is a directory (0755 root:root unless a layer says
// otherwise).
struct FsTree {
  std::shared_ptr<Inode> root = std::make_shared<Inode>();
};

}  // namespace imgfs::indexer
