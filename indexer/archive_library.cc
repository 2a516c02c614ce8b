#include "indexer/archive_library.h"

#include <mutex>
#include <string>

#include "core/shared_library.h"

namespace imgfs::indexer {
namespace {

ArchiveLibrary library;

Status Open() {
  // The soname of libarchive 3 (Debian's libarchive13).
  SharedLibrary lib("libarchive.so.13", "libarchive13");
#define IMGFS_ARCHIVE_BIND(name) lib.Bind(library.name, #name);
  IMGFS_ARCHIVE_FUNCTIONS(IMGFS_ARCHIVE_BIND)
#undef IMGFS_ARCHIVE_BIND
  return lib.status();
}

}  // namespace

Status LoadArchiveLibrary() {
  static std::once_flag once;
  static Status status;
  std::call_once(once, [] { status = Open(); });
  return status;
}

const ArchiveLibrary& ArchiveLib() { return library; }

}  // namespace imgfs::indexer
