// The bytes of the local store's chunks: append-only data files STORE/data/NNNNNNNN.dat. The
// store's RocksDB keeps, per chunk, where its bytes are (an Extent) and their XXH3.
//
// - Reads map the files: a chunk is served from the page cache without a copy, and the kernel
//   can be asked to read ahead the chunks a reader will want next (WillNeed).
// - Extents start on 4 KiB boundaries, so a removed chunk's blocks are punched out whole
//   (fallocate PUNCH_HOLE) and a file whose chunks are all gone is deleted.
// - Mapped bytes are read first under a SIGBUS guard, while their XXH3 is checked: a media
//   error or a file truncated underneath becomes an error for that chunk, not a dead process.
// - A mapped extent is leased: Release() of an extent somebody still reads is deferred until the
//   last view of it is gone, so a reply being built never sees a hole.
// - Appends become durable with Sync(). The writeback of each 8 MiB of a file starts once
//   appends have filled it, so Sync() after a long run of appends has little left to wait for.
// - Files are 0600 and the directory 0700: the store is its owner's alone.
// Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/shared_bytes.h"
#include "core/status.h"

namespace imgfs::store {

class DataFiles {
 public:
  struct Extent {
    uint32_t file = 0;
    uint64_t offset = 0;
    uint32_t length = 0;
  };

  // `dir` is created unless read_only. Files another process appends to later are seen too.
  static Result<std::unique_ptr<DataFiles>> Open(const std::string& dir, bool read_only);
  ~DataFiles();

  // Appends bytes to the current file; a new file starts every 256 MiB.
  Result<Extent> Append(std::string_view bytes);
  // The bytes of an extent, valid (and not punched) while the returned value lives, once their
  // XXH3-64 is checked to be `xxh3`. Corruption if it is not, if the file is missing or shorter
  // than the extent, or if reading it faults.
  Result<SharedBytes> Map(const Extent& extent, uint64_t xxh3);
  // Starts reading these extents into the page cache, without waiting for them.
  void WillNeed(std::vector<Extent> extents);
  // Frees an extent's space (at once, or when its last view is gone); a file left with no data
  // is deleted. The caller has already removed every reference to the extent.
  void Release(const Extent& extent);
  // Frees every byte of the files that `live` does not cover: what appends left unreferenced
  // (a crash between a chunk's bytes and its record, a failed write). Files this instance
  // appended to since its last Sync() (appends may be in flight there) and files being read are
  // skipped.
  Status ReclaimUnreferenced(std::vector<Extent> live);
  // Makes every append so far durable (the files' data and the directory entries of new files).
  Status Sync();

 private:
  struct File;
  struct State;
  struct Lease;
  explicit DataFiles(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;  // shared with the leases of views still alive
};

}  // namespace imgfs::store
