#include "indexer/archive_library.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

namespace imgfs::indexer {
namespace {

ArchiveLibrary library;

Status Open() {
  // The soname of libarchive 3 (Debian's libarchive13).
  void* handle = ::dlopen("libarchive.so.13", RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = ::dlerror();
    return Status::Unavailable(
        std::string("cannot load libarchive (apt-get install libarchive13): ") +
        (why ? why : "dlopen failed"));
  }
  std::string missing;
#define IMGFS_ARCHIVE_BIND(name)                                                   \
  library.name = reinterpret_cast<decltype(library.name)>(::dlsym(handle, #name)); \
  if (!library.name) missing += std::string(missing.empty() ? "" : ", ") + #name;
  IMGFS_ARCHIVE_FUNCTIONS(IMGFS_ARCHIVE_BIND)
#undef IMGFS_ARCHIVE_BIND
  if (!missing.empty())
    return Status::Unavailable("libarchive.so.13 lacks " + missing + " (too old)");
  return Status::Ok();
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
