// One mounted image as a read-only filesystem, independent of FUSE: attributes, lookups,
// directory listings, links and xattrs come from the image index alone (never the network);
// reads map byte ranges to chunks and get them through a ChunkReader (the daemon's shared
// ChunkFetcher). A read never returns bytes of a chunk whose length is not the one the index
// gives it: such a read fails with EIO.
//
// Inode numbers are the index's plus one (FUSE's root is 1), stable across mounts of an image.
// Thread-safety: immutable after construction except for counters and read-ahead state (under
// a mutex); safe for concurrent calls.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/image_index.h"
#include "core/log.h"
#include "imgfs/daemon/chunk_reader.h"
#include "imgfs/daemon/metrics.h"
#include "imgfs/daemon/trace_recorder.h"
#include "imgfs/remote_store.h"

namespace imgfs::daemon {

class ImageFs {
 public:
  static constexpr uint64_t kRootIno = 1;

  // `fetcher` and `remote` (may be null: local only) must outlive this; `trace` may be null.
  ImageFs(std::shared_ptr<const ImageIndex> index, ChunkReader& fetcher,
          remote::RemoteStore* remote, std::shared_ptr<TraceRecorder> trace);

  const ImageIndex& index() const { return *index_; }
  Metrics& metrics() { return metrics_; }
  // Fields on every log line about this filesystem (its mount and image); set before it is
  // served, then only read.
  void set_log_fields(LogFields fields) { log_fields_ = std::move(fields); }
  const LogFields& log_fields() const { return log_fields_; }

  // All return a positive errno on failure.
  int Lookup(uint64_t parent, std::string_view name, uint64_t* ino) const;
  int GetAttr(uint64_t ino, struct stat* st) const;
  int ReadLink(uint64_t ino, std::string_view* target) const;
  // Directory entries: count, and the i-th (name, inode).
  int DirSize(uint64_t ino, uint32_t* count) const;
  void DirEntry(uint64_t ino, uint32_t i, std::string_view* name, uint64_t* child) const;
  uint64_t ParentOf(uint64_t dir_ino) const { return parents_[dir_ino - 1] + 1; }
  int CheckOpen(uint64_t ino, int flags) const;
  // A piece of a read: `length` bytes of a chunk's bytes starting at `offset`. Replies are built
  // from these without copying.
  struct Slice {
    ChunkBytes bytes;
    size_t offset = 0;
    size_t length = 0;
  };
  // Reads up to `size` bytes at `offset` as slices of chunks, in order; short only at end of
  // file.
  int Read(uint64_t ino, uint64_t offset, size_t size, std::vector<Slice>* out);
  // The same, copied into one string.
  int Read(uint64_t ino, uint64_t offset, size_t size, std::string* out);
  // The value of xattr `name` into *value; ENODATA if absent. The caller applies getxattr's
  // size rules (a size-0 probe gets value->size(); a short buffer ERANGE).
  int GetXattr(uint64_t ino, std::string_view name, std::string* value) const;
  // Every xattr name, each followed by a NUL, into *names; listxattr's size rules as above.
  int ListXattr(uint64_t ino, std::string* names) const;
  void StatFs(struct statvfs* st) const;

  // Chunk numbers in the index for digests, in order, skipping unknown ones (for prefetch).
  std::vector<uint32_t> ChunksOf(const std::vector<Digest>& digests) const;
  // Fetches chunks as a prefetch would (missing ones coalesced into range requests); returns
  // the first error.
  Status Prefetch(const std::vector<uint32_t>& chunks);

 private:
  bool Valid(uint64_t ino) const { return ino >= 1 && ino <= index_->inode_count(); }
  // After a large read of `node` ending at `end`: warms what a sequential reader wants next.
  void ReadAhead(uint32_t node, uint64_t end);

  std::shared_ptr<const ImageIndex> index_;
  ChunkReader& fetcher_;
  remote::RemoteStore* remote_;
  std::shared_ptr<TraceRecorder> trace_;
  Metrics metrics_;
  LogFields log_fields_;
  uint64_t total_bytes_ = 0;
  std::vector<uint32_t> parents_;  // index inode -> its directory's (root: itself)
  std::mutex ahead_mu_;
  std::unordered_map<uint32_t, uint64_t> ahead_;  // file -> offset read-ahead was asked up to
};

// Maps a read's Status to the errno the caller sees: EIO for data problems (a chunk missing
// everywhere, corrupt, or the remote unreachable), ENOMEM, EACCES.
int ErrnoOf(const Status& s);

}  // namespace imgfs::daemon
