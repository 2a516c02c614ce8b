// The image index: the flattened tree of one image, its chunk lists, chunks and packs, in the
// binary format specified in docs/index-format.md. Written by ImageIndexWriter; read with
// ImageIndex, which validates everything before handing out a single field, so a reader can index
// any table without further bounds checks.
//
// Inode numbers here are 0-based table positions; 0 is the root directory.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/digest.h"
#include "core/status.h"

namespace imgfs {

inline constexpr char kIndexMagic[8] = {'I', 'M', 'G', 'F', 'S', 'I', 'X', '\0'};
inline constexpr uint32_t kIndexVersion = 1;

struct InodeAttrs {
  uint32_t mode = 0;  // type and permission bits, as in st_mode
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t nlink = 1;
  uint64_t size = 0;
  int64_t mtime_sec = 0;
  uint32_t mtime_nsec = 0;
  uint32_t rdev_major = 0;
  uint32_t rdev_minor = 0;
};

struct ChunkRecord {
  Digest digest;               // SHA-256 of the uncompressed bytes
  uint32_t length = 0;         // uncompressed
  uint32_t stored_length = 0;  // in the pack; == length means stored raw
  uint32_t pack = 0;           // index into the pack table
  uint64_t pack_offset = 0;
};

struct PackRecord {
  Digest digest;  // SHA-256 of the whole pack blob
  uint64_t size = 0;
};

// One chunk of one file: where in the file it starts, and which chunk it is.
struct FileChunkRef {
  uint64_t file_offset = 0;
  uint32_t chunk = 0;  // index into the chunk table
};

struct DirEntryView {
  std::string_view name;
  uint32_t ino = 0;
};

// Builds an index. Single-threaded use.
class ImageIndexWriter {
 public:
  ImageIndexWriter();
  ~ImageIndexWriter();

  uint32_t AddPack(const PackRecord& pack);
  uint32_t AddChunk(const ChunkRecord& chunk);
  // Adds an inode and returns its number; the first one added is the root and must be a
  // directory.
  uint32_t AddInode(const InodeAttrs& attrs);
  void SetXattrs(uint32_t ino, const std::vector<std::pair<std::string, std::string>>& xattrs);
  void SetSymlinkTarget(uint32_t ino, std::string_view target);
  // The file's chunks in order; their lengths must add up to the inode's size.
  void SetFileChunks(uint32_t ino, std::span<const uint32_t> chunk_indexes);
  // Entries in any order; they are sorted by name bytes.
  void SetDirEntries(uint32_t ino, std::vector<std::pair<std::string, uint32_t>> entries);
  // Free-form JSON about the image (source, config, statistics).
  void SetMetadata(std::string json);

  // Serializes and validates the result by parsing it back.
  Result<std::string> Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A validated, read-only view of an index. The bytes are owned (a string or a mapping held by
// the caller through `backing`). Immutable after Open: safe for concurrent readers.
class ImageIndex {
 public:
  // Validates every structural invariant listed in docs/index-format.md.
  static Result<std::shared_ptr<const ImageIndex>> Parse(std::string bytes);
  // The same without hashing the bytes (~5 ms for a 6 MB index), for bytes whose SHA-256 is
  // known to be `digest`: checked by the caller (a fetched index), or stored under that digest
  // after such a check (the local store, whose copy the XXH3 trailer still guards). The
  // structural validation is the same, so hostile bytes are refused as by Parse.
  static Result<std::shared_ptr<const ImageIndex>> Parse(std::string bytes, const Digest& digest);

  const Digest& digest() const { return digest_; }  // SHA-256 of the serialized index
  std::span<const uint8_t> bytes() const {
    return {reinterpret_cast<const uint8_t*>(bytes_.data()), bytes_.size()};
  }

  uint32_t inode_count() const { return inode_count_; }
  InodeAttrs Attrs(uint32_t ino) const;
  std::string_view SymlinkTarget(uint32_t ino) const;
  std::vector<std::pair<std::string_view, std::string_view>> Xattrs(uint32_t ino) const;
  uint64_t xattr_count() const { return xattr_count_; }  // of every inode together

  uint32_t DirEntryCount(uint32_t ino) const;
  DirEntryView DirEntry(uint32_t ino, uint32_t i) const;  // i < DirEntryCount(ino)
  // Binary search of a directory; NotFound if absent.
  Result<uint32_t> Lookup(uint32_t dir_ino, std::string_view name) const;

  uint32_t FileChunkCount(uint32_t ino) const;
  FileChunkRef FileChunk(uint32_t ino, uint32_t i) const;
  // Index of the file chunk containing byte `offset` (< size).
  uint32_t FindFileChunk(uint32_t ino, uint64_t offset) const;

  uint32_t chunk_count() const { return chunk_count_; }
  ChunkRecord Chunk(uint32_t i) const;
  uint32_t pack_count() const { return pack_count_; }
  PackRecord Pack(uint32_t i) const;

  std::string_view metadata() const;

 private:
  ImageIndex() = default;
  Status Validate();
  const uint8_t* Base() const { return reinterpret_cast<const uint8_t*>(bytes_.data()); }
  const uint8_t* InodeRecord(uint32_t ino) const;
  std::string_view String(uint32_t off, uint32_t len) const;

  std::string bytes_;
  Digest digest_;
  uint64_t strings_off_ = 0, strings_len_ = 0;
  uint64_t inodes_off_ = 0;
  uint64_t dirents_off_ = 0, dirent_count_ = 0;
  uint64_t xattrs_off_ = 0, xattr_count_ = 0;
  uint64_t refs_off_ = 0, ref_count_ = 0;
  uint64_t chunks_off_ = 0;
  uint64_t packs_off_ = 0;
  uint64_t meta_off_ = 0, meta_len_ = 0;
  uint32_t inode_count_ = 0, chunk_count_ = 0, pack_count_ = 0;
};

}  // namespace imgfs
