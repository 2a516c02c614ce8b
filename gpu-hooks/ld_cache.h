// A reader for glibc's ld.so.cache (/etc/ld.so.cache), so the host's driver libraries are found the
// way the dynamic loader finds them, without running ldconfig -p or loading anything.
//
// Formats (all integers in host byte order; the file is never trusted: every offset is
// bounds-checked):
//   new   "glibc-ld.so.cache1.1", u32 nlibs, u32 len_strings, u8 flags (2 = little, 3 = big
//         endian), 3 pad, u32 extension_offset, 3 x u32 unused; then nlibs entries of
//         {i32 flags, u32 key, u32 value, u32 osversion, u64 hwcap} (24 bytes); then strings.
//         key/value are offsets from the start of this header.
//   old   "ld.so-1.7.0", u32 nlibs, nlibs x {i32 flags, u32 key, u32 value}; then either the new
//         format (aligned to 8) which is then used, or strings with offsets from the end of the
//         entries.
// Thread-safety: stateless functions over caller-owned bytes; safe from any thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace imgfs::gpu {

struct LdCacheEntry {
  std::string soname;  // key, e.g. "libcuda.so.1"
  std::string path;    // value, e.g. "/usr/lib/x86_64-linux-gnu/libcuda.so.1"
  int32_t flags = 0;   // FLAG_ELF_LIBC6 | arch bits (0x0303 = libc6,x86-64)
  uint64_t hwcap = 0;
};

// Entries in file order. kCorruption for anything malformed.
Result<std::vector<LdCacheEntry>> ParseLdCache(std::span<const uint8_t> data);
Result<std::vector<LdCacheEntry>> ReadLdCache(const std::string& path);

// True when ENTRY is for this process's ABI (x86-64 on x86-64, AArch64 on AArch64): 32-bit
// compat entries are dropped.
bool IsNativeLdCacheEntry(const LdCacheEntry& entry);

}  // namespace imgfs::gpu
