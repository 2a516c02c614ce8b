#include <cstring>

#include "gpu-hooks/ld_cache.h"
#include "gpu_test_util.h"

namespace imgfs::gpu {
namespace {

using testing::ReadText;

TEST(LdCacheTest, ReadsTheCacheTheRealLdconfigBuilt) {
  REQUIRE_FAKE_ROOT(root);
  auto entries = ReadLdCache(root + "/etc/ld.so.cache");
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  EXPECT_EQ(entries->size(), 19u);  // 18 NVIDIA libraries + libz, as ldconfig -p lists
  bool found = false;
  for (const LdCacheEntry& e : *entries) {
    EXPECT_TRUE(IsNativeLdCacheEntry(e)) << e.soname;
    if (e.soname == "libcuda.so.1") {
      EXPECT_EQ(e.path, "/usr/lib/x86_64-linux-gnu/libcuda.so.1");
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

TEST(LdCacheTest, EveryTruncationIsCorruptionNotACrash) {
  REQUIRE_FAKE_ROOT(root);
  std::string text = ReadText(root + "/etc/ld.so.cache");
  ASSERT_GT(text.size(), 100u);
  for (size_t n = 0; n < text.size(); n += 7) {
    auto r = ParseLdCache({reinterpret_cast<const uint8_t*>(text.data()), n});
    if (r.ok()) continue;  // a prefix can be valid only if the strings it needs are in it
    EXPECT_EQ(r.status().code(), Code::kCorruption) << n;
  }
  // An entry pointing past the end.
  std::string bad = text;
  uint32_t huge = 0x7fffffff;
  std::memcpy(bad.data() + 48 + 4, &huge, 4);
  EXPECT_EQ(
      ParseLdCache({reinterpret_cast<const uint8_t*>(bad.data()), bad.size()}).status().code(),
      Code::kCorruption);
}

TEST(LdCacheTest, OldFormatPrefixIsSkippedToTheNewTable) {
  REQUIRE_FAKE_ROOT(root);
  std::string modern = ReadText(root + "/etc/ld.so.cache");
  // "ld.so-1.7.0" + pad, nlibs = 1, one old entry, padded to 8, then the new format.
  std::string old("ld.so-1.7.0\0", 12);
  uint32_t one = 1;
  old.append(reinterpret_cast<const char*>(&one), 4);
  old.append(12, '\0');
  while (old.size() % 8) old.push_back('\0');
  std::string combined = old + modern;
  auto entries = ParseLdCache({reinterpret_cast<const uint8_t*>(combined.data()), combined.size()});
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  EXPECT_EQ(entries->size(), 19u);
}

TEST(LdCacheTest, OldFormatAloneIsRead) {
  // nlibs = 1, entry {flags 0x0303, key 0, value 13}, strings "libfoo.so.1\0/lib/foo.so\0".
  std::string d("ld.so-1.7.0\0", 12);
  uint32_t v[] = {1, 0x0303, 0, 12};
  d.append(reinterpret_cast<const char*>(v), sizeof(v));
  d.append("libfoo.so.1\0/lib/foo.so\0", 24);
  auto entries = ParseLdCache({reinterpret_cast<const uint8_t*>(d.data()), d.size()});
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].soname, "libfoo.so.1");
  EXPECT_EQ((*entries)[0].path, "/lib/foo.so");
}

TEST(LdCacheTest, UnknownMagicIsRefused) {
  std::string d = "not a cache at all, but long enough to have a header.............";
  EXPECT_EQ(ParseLdCache({reinterpret_cast<const uint8_t*>(d.data()), d.size()}).status().code(),
            Code::kCorruption);
}

TEST(LdCacheTest, ThirtyTwoBitEntriesAreNotNative) {
  EXPECT_FALSE(IsNativeLdCacheEntry({"libcuda.so.1", "/usr/lib32/libcuda.so.1", 0x0003, 0}));
  EXPECT_TRUE(IsNativeLdCacheEntry({"libcuda.so.1", "/usr/lib/libcuda.so.1", 0x0303, 0}));
}

}  // namespace
}  // namespace imgfs::gpu
