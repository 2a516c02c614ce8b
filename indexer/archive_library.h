// libarchive, opened at first use rather than linked. Only conversion and export read or write
// tar, but a linked libarchive (with the ICU, libxml2, nettle, liblzma and libacl it brings)
// costs every imgfs process ~0.7 ms of loading and relocation at start, `imgfs run` of a
// mounted image and the daemon's start included (docs/BENCHMARKS.md). The types and constants
// still come from archive.h; the functions are called through ArchiveLib().
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include "core/status.h"

namespace imgfs::indexer {

// Every libarchive function imgfs calls.
// clang-format off
#define IMGFS_ARCHIVE_FUNCTIONS(X) \
  X(archive_entry_filetype) \
  X(archive_entry_free) \
  X(archive_entry_gid) \
  X(archive_entry_hardlink) \
  X(archive_entry_mtime) \
  X(archive_entry_mtime_is_set) \
  X(archive_entry_mtime_nsec) \
  X(archive_entry_new) \
  X(archive_entry_pathname) \
  X(archive_entry_perm) \
  X(archive_entry_rdevmajor) \
  X(archive_entry_rdevminor) \
  X(archive_entry_set_gid) \
  X(archive_entry_set_hardlink) \
  X(archive_entry_set_mode) \
  X(archive_entry_set_mtime) \
  X(archive_entry_set_pathname) \
  X(archive_entry_set_rdevmajor) \
  X(archive_entry_set_rdevminor) \
  X(archive_entry_set_size) \
  X(archive_entry_set_symlink) \
  X(archive_entry_set_uid) \
  X(archive_entry_size) \
  X(archive_entry_symlink) \
  X(archive_entry_uid) \
  X(archive_entry_xattr_add_entry) \
  X(archive_entry_xattr_next) \
  X(archive_entry_xattr_reset) \
  X(archive_error_string) \
  X(archive_read_data_block) \
  X(archive_read_free) \
  X(archive_read_new) \
  X(archive_read_next_header) \
  X(archive_read_open) \
  X(archive_read_support_format_tar) \
  X(archive_set_error) \
  X(archive_write_close) \
  X(archive_write_data) \
  X(archive_write_free) \
  X(archive_write_header) \
  X(archive_write_new) \
  X(archive_write_open_fd) \
  X(archive_write_open_filename) \
  X(archive_write_set_bytes_per_block) \
  X(archive_write_set_format_pax)
// clang-format on

struct ArchiveLibrary {
#define IMGFS_ARCHIVE_POINTER(name) decltype(&::name) name = nullptr;
  IMGFS_ARCHIVE_FUNCTIONS(IMGFS_ARCHIVE_POINTER)
#undef IMGFS_ARCHIVE_POINTER
};

// Opens libarchive.so.13 the first time (later calls return the first answer). Unavailable,
// in one line, when it cannot be loaded or lacks a function. Thread-safe.
Status LoadArchiveLibrary();
// REQUIRES: LoadArchiveLibrary() returned Ok.
const ArchiveLibrary& ArchiveLib();

}  // namespace imgfs::indexer
