#include "gpu-hooks/ld_cache.h"

#include <bit>
#include <cstring>

#include "core/fd.h"

namespace imgfs::gpu {
namespace {

constexpr std::string_view kNewMagic = "glibc-ld.so.cache1.1";
constexpr std::string_view kOldMagic = "ld.so-1.7.0";
constexpr size_t kNewHeaderSize = 48;
constexpr size_t kNewEntrySize = 24;
constexpr size_t kOldEntrySize = 12;
constexpr size_t kMaxEntries = 1 << 20;

template <typename T>
T Load(std::span<const uint8_t> d, size_t off) {
  T v;
  std::memcpy(&v, d.data() + off, sizeof(T));
  return v;
}

// A NUL-terminated string at OFF inside STRINGS (offsets relative to strings.data()).
Result<std::string> StringAt(std::span<const uint8_t> base, uint32_t off) {
  if (off >= base.size()) return Status::Corruption("ld.so.cache: string offset out of range");
  const void* end = std::memchr(base.data() + off, '\0', base.size() - off);
  if (end == nullptr) return Status::Corruption("ld.so.cache: unterminated string");
  return std::string(reinterpret_cast<const char*>(base.data() + off),
                     static_cast<const uint8_t*>(end) - (base.data() + off));
}

Result<std::vector<LdCacheEntry>> ParseNew(std::span<const uint8_t> d) {
  if (d.size() < kNewHeaderSize) return Status::Corruption("ld.so.cache: short header");
  uint32_t nlibs = Load<uint32_t>(d, 20);
  uint8_t endian = d[28];
  constexpr uint8_t kNative = std::endian::native == std::endian::little ? 2 : 3;
  if (endian != 0 && endian != kNative) {
    return Status::Corruption("ld.so.cache: foreign byte order");
  }
  if (nlibs > kMaxEntries || kNewHeaderSize + size_t{nlibs} * kNewEntrySize > d.size()) {
    return Status::Corruption("ld.so.cache: entry table past end of file");
  }
  std::vector<LdCacheEntry> out;
  out.reserve(nlibs);
  for (uint32_t i = 0; i < nlibs; ++i) {
    size_t e = kNewHeaderSize + size_t{i} * kNewEntrySize;
    LdCacheEntry entry;
    entry.flags = Load<int32_t>(d, e);
    ASSIGN_OR_RETURN(entry.soname, StringAt(d, Load<uint32_t>(d, e + 4)));
    ASSIGN_OR_RETURN(entry.path, StringAt(d, Load<uint32_t>(d, e + 8)));
    entry.hwcap = Load<uint64_t>(d, e + 16);
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace

Result<std::vector<LdCacheEntry>> ParseLdCache(std::span<const uint8_t> d) {
  auto starts = [&](std::span<const uint8_t> s, std::string_view magic) {
    return s.size() >= magic.size() && std::memcmp(s.data(), magic.data(), magic.size()) == 0;
  };
  if (starts(d, kNewMagic)) return ParseNew(d);
  if (!starts(d, kOldMagic)) return Status::Corruption("ld.so.cache: unknown format");
  // Old format: 11-byte magic padded to 12, then nlibs.
  if (d.size() < 16) return Status::Corruption("ld.so.cache: short old header");
  uint32_t nlibs = Load<uint32_t>(d, 12);
  size_t entries_end = 16 + size_t{nlibs} * kOldEntrySize;
  if (nlibs > kMaxEntries || entries_end > d.size()) {
    return Status::Corruption("ld.so.cache: old entry table past end of file");
  }
  size_t new_off = (entries_end + 7) & ~size_t{7};
  if (new_off < d.size() && starts(d.subspan(new_off), kNewMagic))
    return ParseNew(d.subspan(new_off));
  std::span<const uint8_t> strings = d.subspan(entries_end);
  std::vector<LdCacheEntry> out;
  for (uint32_t i = 0; i < nlibs; ++i) {
    size_t e = 16 + size_t{i} * kOldEntrySize;
    LdCacheEntry entry;
    entry.flags = Load<int32_t>(d, e);
    ASSIGN_OR_RETURN(entry.soname, StringAt(strings, Load<uint32_t>(d, e + 4)));
    ASSIGN_OR_RETURN(entry.path, StringAt(strings, Load<uint32_t>(d, e + 8)));
    out.push_back(std::move(entry));
  }
  return out;
}

Result<std::vector<LdCacheEntry>> ReadLdCache(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, 64u << 20));
  return ParseLdCache({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

bool IsNativeLdCacheEntry(const LdCacheEntry& entry) {
  constexpr int32_t kTypeMask = 0x00ff, kArchMask = 0xff00, kElfLibc6 = 0x0003;
  if ((entry.flags & kTypeMask) != kElfLibc6) return false;
#if defined(__x86_64__)
  return (entry.flags & kArchMask) == 0x0300;
#elif defined(__aarch64__)
  return (entry.flags & kArchMask) == 0x0a00;
#else
  return true;
#endif
}

}  // namespace imgfs::gpu
