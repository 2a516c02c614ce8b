#include "indexer/layer_reader.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "indexer/archive_library.h"

namespace imgfs::indexer {

constexpr size_t kMaxXattrNameLength = 255;
constexpr size_t kMaxXattrValueSize = 65536;

LayerReader::LayerReader(LayerStream* stream) : stream_(stream) {
  open_error_ = LoadArchiveLibrary();
  if (!open_error_.ok()) return;
  archive_ = ArchiveLib().archive_read_new();
  if (archive_) ArchiveLib().archive_read_support_format_tar(archive_);
}

LayerReader::~LayerReader() {
  if (archive_) ArchiveLib().archive_read_free(archive_);
}

long LayerReader::ReadCallback(struct archive* a, void* self, const void** buf) {  // NOLINT
  auto* r = static_cast<LayerReader*>(self);
  if (!r->first_.empty()) {
    *buf = r->first_.data();
    long n = static_cast<long>(r->first_.size());  // NOLINT
    r->first_ = {};
    return n;
  }
  Result<std::span<const uint8_t>> piece = r->stream_->Next();
  if (!piece.ok()) {
    r->stream_error_ = piece.status();
    ArchiveLib().archive_set_error(a, EIO, "%s", piece.status().message().c_str());
    return -1;
  }
  *buf = piece->data();
  return static_cast<long>(piece->size());  // NOLINT
}

Status LayerReader::ArchiveError(std::string_view what) {
  if (!stream_error_.ok()) return stream_error_;
  const char* msg = archive_ ? ArchiveLib().archive_error_string(archive_) : nullptr;
  return Status::Corruption(std::string(what) + ": " + (msg ? msg : "unknown libarchive error"));
}

Result<bool> LayerReader::NextEntry(TarEntry* out) {
  if (opened_ && !archive_) return false;  // the empty stream
  if (!archive_)
    return open_error_.ok() ? Status::Internal("archive_read_new failed") : open_error_;
  if (!opened_) {
    opened_ = true;
    // An empty stream is an empty layer (Go's archive/tar, and so containerd, agree); libarchive
    // would call it an unrecognized format.
    ASSIGN_OR_RETURN(first_, stream_->Next());
    if (first_.empty()) {
      ArchiveLib().archive_read_free(archive_);
      archive_ = nullptr;
      return false;
    }
    if (ArchiveLib().archive_read_open(archive_, this, nullptr, &LayerReader::ReadCallback,
                                       nullptr) != ARCHIVE_OK) {
      return ArchiveError("reading tar");
    }
  }
  struct archive_entry* e = nullptr;
  int rc = ArchiveLib().archive_read_next_header(archive_, &e);
  if (rc == ARCHIVE_EOF) return false;
  if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) return ArchiveError("reading tar header");

  *out = TarEntry();
  const char* path = ArchiveLib().archive_entry_pathname(e);
  out->path = path ? path : "";
  out->mode = ArchiveLib().archive_entry_perm(e) & 07777;
  la_int64_t uid = ArchiveLib().archive_entry_uid(e), gid = ArchiveLib().archive_entry_gid(e);
  constexpr la_int64_t kMaxId = std::numeric_limits<uint32_t>::max();
  if (uid < 0 || uid > kMaxId || gid < 0 || gid > kMaxId) {
    return Status::InvalidArgument("entry \"" + out->path + "\": uid/gid out of range");
  }
  out->uid = static_cast<uint32_t>(uid);
  out->gid = static_cast<uint32_t>(gid);
  if (ArchiveLib().archive_entry_mtime_is_set(e)) {
    out->mtime_sec = ArchiveLib().archive_entry_mtime(e);
    long nsec = ArchiveLib().archive_entry_mtime_nsec(e);  // NOLINT
    out->mtime_nsec = (nsec >= 0 && nsec < 1000000000) ? static_cast<uint32_t>(nsec) : 0;
  }
  ArchiveLib().archive_entry_xattr_reset(e);
  const char* xname;
  const void* xvalue;
  size_t xsize;
  while (ArchiveLib().archive_entry_xattr_next(e, &xname, &xvalue, &xsize) == ARCHIVE_OK) {
    if (!xname) continue;
    // What the kernel takes (XATTR_NAME_MAX, XATTR_SIZE_MAX); no Linux file carries more.
    const size_t name_length = std::strlen(xname);
    if (name_length == 0 || name_length > kMaxXattrNameLength || xsize > kMaxXattrValueSize)
      return Status::InvalidArgument("entry \"" + out->path + "\": xattr \"" +
                                     std::string(xname, std::min<size_t>(name_length, 64)) +
                                     "\" has a name of " + std::to_string(name_length) +
                                     " bytes or a value of " + std::to_string(xsize) +
                                     " (at most 255 and 65536)");
    out->xattrs[xname] = std::string(static_cast<const char*>(xvalue), xvalue ? xsize : 0);
  }

  const char* hardlink = ArchiveLib().archive_entry_hardlink(e);
  if (hardlink) {
    out->type = TarEntryType::kHardlink;
    out->link_target = hardlink;
    return true;
  }
  switch (ArchiveLib().archive_entry_filetype(e)) {
    case AE_IFREG: {
      out->type = TarEntryType::kRegular;
      la_int64_t size = ArchiveLib().archive_entry_size(e);
      if (size < 0) return Status::InvalidArgument("entry \"" + out->path + "\": negative size");
      out->size = static_cast<uint64_t>(size);
      data_.Reset(out->size);
      break;
    }
    case AE_IFDIR:
      out->type = TarEntryType::kDirectory;
      break;
    case AE_IFLNK: {
      out->type = TarEntryType::kSymlink;
      const char* target = ArchiveLib().archive_entry_symlink(e);
      out->link_target = target ? target : "";
      break;
    }
    case AE_IFCHR:
    case AE_IFBLK:
      out->type = ArchiveLib().archive_entry_filetype(e) == AE_IFCHR ? TarEntryType::kCharDevice
                                                                     : TarEntryType::kBlockDevice;
      out->rdev_major = static_cast<uint32_t>(ArchiveLib().archive_entry_rdevmajor(e));
      out->rdev_minor = static_cast<uint32_t>(ArchiveLib().archive_entry_rdevminor(e));
      break;
    case AE_IFIFO:
      out->type = TarEntryType::kFifo;
      break;
    default:
      return Status::InvalidArgument("entry \"" + out->path + "\": unsupported file type");
  }
  return true;
}

void LayerReader::EntryData::Reset(uint64_t size) {
  size_ = size;
  pos_ = 0;
  block_ = nullptr;
  block_len_ = 0;
  block_off_ = 0;
  eof_ = false;
}

Result<size_t> LayerReader::EntryData::Read(std::span<uint8_t> buf) {
  if (pos_ >= size_ || buf.empty()) return size_t{0};
  if (block_len_ == 0 && !eof_ && block_off_ <= pos_) {
    const void* p = nullptr;
    size_t len = 0;
    la_int64_t off = 0;
    int rc = ArchiveLib().archive_read_data_block(r_->archive_, &p, &len, &off);
    if (rc == ARCHIVE_EOF) {
      eof_ = true;
    } else if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
      return r_->ArchiveError("reading tar entry data");
    } else {
      if (off < 0 || static_cast<uint64_t>(off) < pos_ || static_cast<uint64_t>(off) > size_ ||
          len > size_ - static_cast<uint64_t>(off)) {
        return Status::Corruption("sparse map of a tar entry is inconsistent");
      }
      block_ = static_cast<const uint8_t*>(p);
      block_len_ = len;
      block_off_ = static_cast<uint64_t>(off);
    }
  }
  uint64_t left = size_ - pos_;
  size_t n;
  if (block_len_ > 0 && pos_ == block_off_) {
    n = static_cast<size_t>(std::min<uint64_t>({buf.size(), block_len_, left}));
    std::memcpy(buf.data(), block_, n);
    block_ += n;
    block_len_ -= n;
    block_off_ += n;
  } else {
    // A hole: up to the next data block, or to the end once the data is exhausted.
    uint64_t hole = (block_len_ > 0 || block_off_ > pos_) ? block_off_ - pos_ : left;
    if (eof_) hole = left;
    n = static_cast<size_t>(std::min<uint64_t>({buf.size(), hole, left}));
    std::memset(buf.data(), 0, n);
  }
  pos_ += n;
  return n;
}

}  // namespace imgfs::indexer
