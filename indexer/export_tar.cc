#include <sys/stat.h>

#include <memory>

#include "indexer/archive_library.h"
#include "indexer/export.h"
#include "indexer/export_walk.h"

namespace imgfs::indexer {
namespace {

struct ArchiveDeleter {
  void operator()(struct archive* a) const { ArchiveLib().archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(struct archive_entry* e) const { ArchiveLib().archive_entry_free(e); }
};

Status ArchiveError(struct archive* a, const std::string& what) {
  const char* msg = ArchiveLib().archive_error_string(a);
  return Status::IOError(what + ": " + (msg ? msg : "unknown error"));
}

Status WriteEntry(struct archive* a, const ImageIndex& index, ChunkSource& chunks,
                  const std::string& path, uint32_t ino, const std::string& link_to) {
  InodeAttrs attrs = index.Attrs(ino);
  std::unique_ptr<struct archive_entry, EntryDeleter> e(ArchiveLib().archive_entry_new());
  ArchiveLib().archive_entry_set_pathname(e.get(), path.c_str());
  ArchiveLib().archive_entry_set_mode(e.get(), attrs.mode);
  ArchiveLib().archive_entry_set_uid(e.get(), attrs.uid);
  ArchiveLib().archive_entry_set_gid(e.get(), attrs.gid);
  ArchiveLib().archive_entry_set_mtime(e.get(), attrs.mtime_sec, attrs.mtime_nsec);
  for (const auto& [key, value] : index.Xattrs(ino))
    ArchiveLib().archive_entry_xattr_add_entry(e.get(), std::string(key).c_str(), value.data(),
                                               value.size());
  const bool has_data = link_to.empty() && S_ISREG(attrs.mode);
  if (!link_to.empty()) {
    ArchiveLib().archive_entry_set_hardlink(e.get(), link_to.c_str());
    ArchiveLib().archive_entry_set_size(e.get(), 0);
  } else if (S_ISREG(attrs.mode)) {
    ArchiveLib().archive_entry_set_size(e.get(), static_cast<la_int64_t>(attrs.size));
  } else if (S_ISLNK(attrs.mode)) {
    ArchiveLib().archive_entry_set_symlink(e.get(), std::string(index.SymlinkTarget(ino)).c_str());
  } else if (S_ISCHR(attrs.mode) || S_ISBLK(attrs.mode)) {
    ArchiveLib().archive_entry_set_rdevmajor(e.get(), attrs.rdev_major);
    ArchiveLib().archive_entry_set_rdevminor(e.get(), attrs.rdev_minor);
  }
  if (ArchiveLib().archive_write_header(a, e.get()) != ARCHIVE_OK)
    return ArchiveError(a, "write header");
  if (!has_data) return Status::Ok();
  std::string data;
  for (uint32_t i = 0, n = index.FileChunkCount(ino); i < n; ++i) {
    RETURN_IF_ERROR(ReadChunk(index, chunks, index.FileChunk(ino, i).chunk, &data));
    if (ArchiveLib().archive_write_data(a, data.data(), data.size()) !=
        static_cast<la_ssize_t>(data.size()))
      return ArchiveError(a, "write data");
  }
  return Status::Ok();
}

}  // namespace

Status ExportToTar(const ImageIndex& index, ChunkSource& chunks, const std::string& file) {
  RETURN_IF_ERROR(LoadArchiveLibrary());
  std::unique_ptr<struct archive, ArchiveDeleter> a(ArchiveLib().archive_write_new());
  ArchiveLib().archive_write_set_format_pax(a.get());  // pax, not restricted: keeps ns mtimes
  ArchiveLib().archive_write_set_bytes_per_block(a.get(), 10240);
  int rc = file == "-" ? ArchiveLib().archive_write_open_fd(a.get(), 1)
                       : ArchiveLib().archive_write_open_filename(a.get(), file.c_str());
  if (rc != ARCHIVE_OK) return ArchiveError(a.get(), "open " + file);
  RETURN_IF_ERROR(WriteEntry(a.get(), index, chunks, "./", 0, ""));
  Status s = Walk(
      index,
      [&](const std::string& path, uint32_t ino, const std::string& link_to) {
        return WriteEntry(a.get(), index, chunks, path, ino, link_to).WithContext(path);
      },
      [](const std::string&, uint32_t) { return Status::Ok(); });
  RETURN_IF_ERROR(s.WithContext("export to " + file));
  if (ArchiveLib().archive_write_close(a.get()) != ARCHIVE_OK)
    return ArchiveError(a.get(), "close " + file);
  return Status::Ok();
}

}  // namespace imgfs::indexer
