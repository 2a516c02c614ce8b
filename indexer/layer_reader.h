// Reads the entries of one layer's tar stream (ustar, GNU and PAX: long names, sparse files,
// xattrs) through libarchive, which sees only the already-decompressed bytes of a LayerStream.
// Regular-file data is served as a ByteSource of exactly the entry's size with sparse holes as
// zeros. Not thread-safe; entries must be consumed in order.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "core/status.h"
#include "indexer/content_writer.h"
#include "indexer/decompress.h"

struct archive;

namespace imgfs::indexer {

enum class TarEntryType {
  kRegular,
  kDirectory,
  kSymlink,
  kHardlink,
  kCharDevice,
  kBlockDevice,
  kFifo
};

struct TarEntry {
  std::string path;  // as stored: "./usr/bin", "usr/bin/", "/etc" ...
  TarEntryType type = TarEntryType::kRegular;
  uint32_t mode = 0;  // permission bits only (07777)
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime_sec = 0;
  uint32_t mtime_nsec = 0;
  uint64_t size = 0;        // regular files: logical size (sparse holes included)
  std::string link_target;  // symlink target, or the path a hardlink points at
  uint32_t rdev_major = 0;
  uint32_t rdev_minor = 0;
  std::map<std::string, std::string> xattrs;
};

class LayerReader {
 public:
  // `stream` must outlive the reader.
  explicit LayerReader(LayerStream* stream);
  ~LayerReader();
  LayerReader(const LayerReader&) = delete;
  LayerReader& operator=(const LayerReader&) = delete;

  // Fills *entry with the next header; returns false at the end of the archive. Skips any
  // unread data of the previous entry. Sockets and unknown types are InvalidArgument.
  Result<bool> NextEntry(TarEntry* entry);

  // The current regular-file entry's data. REQUIRES: the last NextEntry returned a kRegular
  // entry. Valid until the next NextEntry call.
  ByteSource& Data() { return data_; }

 private:
  class EntryData : public ByteSource {
   public:
    explicit EntryData(LayerReader* r) : r_(r) {}
    void Reset(uint64_t size);
    Result<size_t> Read(std::span<uint8_t> buf) override;

   private:
    LayerReader* r_;
    uint64_t size_ = 0;
    uint64_t pos_ = 0;
    const uint8_t* block_ = nullptr;
    size_t block_len_ = 0;
    uint64_t block_off_ = 0;
    bool eof_ = false;
  };

  static long ReadCallback(struct archive* a, void* self, const void** buf);  // NOLINT
  Status ArchiveError(std::string_view what);

  LayerStream* stream_;
  struct archive* archive_ = nullptr;
  bool opened_ = false;
  std::span<const uint8_t> first_;  // the stream's first piece, read before libarchive starts
  Status open_error_;               // libarchive could not be loaded
  Status stream_error_;             // the LayerStream failure behind a libarchive read failure
  EntryData data_{this};
};

}  // namespace imgfs::indexer
