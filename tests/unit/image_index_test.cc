#include "core/image_index.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <vector>

#include "core/byte_io.h"
#include "core/chunker.h"
#include "core/fd.h"
#include "tests/hostile_index.h"

namespace imgfs {
namespace {

// root/
//   bin/ sh (2 chunks)   link -> sh (hardlink of sh: same inode)
//   lib -> usr/lib
std::string BuildSample() {
  ImageIndexWriter w;
  Digest d1 = Sha256("chunk-one"), d2 = Sha256("chunk-two");
  w.AddPack({Sha256("pack"), 100});
  uint32_t c1 = w.AddChunk({d1, 40, 30, 0, 0});
  uint32_t c2 = w.AddChunk({d2, 20, 20, 0, 30});
  uint32_t root = w.AddInode({S_IFDIR | 0755, 0, 0, 3, 0, 1, 0});
  uint32_t bin = w.AddInode({S_IFDIR | 0755, 0, 0, 2, 0, 2, 5});
  uint32_t sh = w.AddInode({S_IFREG | 04755, 1000, 70000, 2, 60, 3, 999999999});
  uint32_t lib = w.AddInode({S_IFLNK | 0777, 0, 0, 1, 7, 4, 0});
  w.SetDirEntries(root, {{"lib", lib}, {"bin", bin}});
  w.SetDirEntries(bin, {{"sh", sh}, {"link", sh}});
  uint32_t chunks[] = {c1, c2};
  w.SetFileChunks(sh, chunks);
  w.SetSymlinkTarget(lib, "usr/lib");
  w.SetXattrs(sh, {{"security.capability", std::string("\x01\x00\x00\x02", 4)}, {"user.k", "v"}});
  w.SetMetadata(R"({"source":"test"})");
  auto bytes = w.Finish();
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  return bytes.ok() ? *bytes : std::string();
}

TEST(ImageIndexTest, RoundTripsEveryField) {
  auto index = ImageIndex::Parse(BuildSample());
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  const ImageIndex& ix = **index;
  EXPECT_EQ(ix.inode_count(), 4u);
  auto bin = ix.Lookup(0, "bin");
  ASSERT_TRUE(bin.ok());
  auto sh = ix.Lookup(*bin, "sh");
  auto link = ix.Lookup(*bin, "link");
  ASSERT_TRUE(sh.ok() && link.ok());
  EXPECT_EQ(*sh, *link);  // a hardlink is one inode
  InodeAttrs a = ix.Attrs(*sh);
  EXPECT_EQ(a.mode, S_IFREG | 04755u);
  EXPECT_EQ(a.uid, 1000u);
  EXPECT_EQ(a.gid, 70000u);
  EXPECT_EQ(a.nlink, 2u);
  EXPECT_EQ(a.size, 60u);
  EXPECT_EQ(a.mtime_nsec, 999999999u);
  EXPECT_EQ(ix.FileChunkCount(*sh), 2u);
  EXPECT_EQ(ix.FileChunk(*sh, 1).file_offset, 40u);
  EXPECT_EQ(ix.FindFileChunk(*sh, 39), 0u);
  EXPECT_EQ(ix.FindFileChunk(*sh, 40), 1u);
  EXPECT_EQ(ix.Chunk(ix.FileChunk(*sh, 1).chunk).digest, Sha256("chunk-two"));
  auto xattrs = ix.Xattrs(*sh);
  ASSERT_EQ(xattrs.size(), 2u);
  EXPECT_EQ(xattrs[0].first, "security.capability");
  EXPECT_EQ(xattrs[0].second.size(), 4u);
  auto lib = ix.Lookup(0, "lib");
  ASSERT_TRUE(lib.ok());
  EXPECT_EQ(ix.SymlinkTarget(*lib), "usr/lib");
  EXPECT_EQ(ix.DirEntry(0, 0).name, "bin");  // sorted
  EXPECT_FALSE(ix.Lookup(0, "nope").ok());
  EXPECT_EQ(ix.metadata(), R"({"source":"test"})");
  EXPECT_EQ(ix.digest(), Sha256(BuildSample()));
}

TEST(ImageIndexTest, MatchesGoldenFile) {
  // The format is a contract with other implementations: this exact index must keep its bytes.
  std::string golden_path = std::string(IMGFS_SOURCE_DIR) + "/tests/golden/sample.imgfsidx";
  std::string bytes = BuildSample();
  if (std::getenv("IMGFS_UPDATE_GOLDEN")) {
    ASSERT_TRUE(WriteFileAtomic(golden_path, bytes).ok());
  }
  auto golden = ReadFileToString(golden_path, 1 << 20);
  ASSERT_TRUE(golden.ok()) << golden.status().ToString();
  EXPECT_EQ(*golden, bytes);
  EXPECT_TRUE(ImageIndex::Parse(*golden).ok());
}

std::string Reseal(std::string bytes) {
  // Recomputes the trailer checksum so that structural checks, not the checksum, are tested.
  uint64_t sum = Xxh3(bytes.data(), bytes.size() - 8);
  StoreU64(reinterpret_cast<uint8_t*>(bytes.data() + bytes.size() - 8), sum);
  return bytes;
}

TEST(ImageIndexTest, RejectsFlippedBitsByChecksum) {
  std::string bytes = BuildSample();
  for (size_t i = 0; i < bytes.size(); i += 7) {
    std::string bad = bytes;
    bad[i] ^= 0x10;
    EXPECT_FALSE(ImageIndex::Parse(bad).ok()) << "byte " << i;
  }
}

// Parse with a known digest takes the digest as given and validates exactly as Parse does.
TEST(ImageIndexTest, AKnownDigestSkipsTheHashNotTheChecks) {
  const std::string bytes = BuildSample();
  auto hashed = ImageIndex::Parse(bytes);
  ASSERT_TRUE(hashed.ok());
  auto known = ImageIndex::Parse(bytes, (*hashed)->digest());
  ASSERT_TRUE(known.ok()) << known.status().ToString();
  EXPECT_EQ((*known)->digest(), (*hashed)->digest());
  EXPECT_EQ((*known)->inode_count(), (*hashed)->inode_count());
  for (size_t i = 0; i < bytes.size(); i += 7) {
    std::string bad = bytes;
    bad[i] ^= 0x10;
    EXPECT_FALSE(ImageIndex::Parse(bad, (*hashed)->digest()).ok()) << "byte " << i;
  }
  EXPECT_FALSE(ImageIndex::Parse(bytes.substr(0, bytes.size() - 1), (*hashed)->digest()).ok());
}

TEST(ImageIndexTest, RejectsTruncation) {
  std::string bytes = BuildSample();
  for (size_t n : {size_t{0}, size_t{10}, size_t{100}, bytes.size() - 1})
    EXPECT_FALSE(ImageIndex::Parse(bytes.substr(0, n)).ok());
}

TEST(ImageIndexTest, RejectsStructuralDamageEvenWithValidChecksum) {
  std::string good = BuildSample();
  // Every 4-byte field set to a large value, checksum fixed up: must never parse into something
  // whose accessors would read out of bounds (ASan runs catch that) and mostly must be refused.
  int refused = 0, total = 0;
  for (size_t i = 8; i + 4 <= good.size() - 8; i += 4) {
    std::string bad = good;
    StoreU32(reinterpret_cast<uint8_t*>(bad.data() + i), 0xfffffff0u);
    bad = Reseal(bad);
    auto parsed = ImageIndex::Parse(bad);
    ++total;
    if (!parsed.ok()) {
      ++refused;
      continue;
    }
    // Accepted: walk everything to prove it is safe.
    const ImageIndex& ix = **parsed;
    for (uint32_t ino = 0; ino < ix.inode_count(); ++ino) {
      (void)ix.Xattrs(ino);
      (void)ix.SymlinkTarget(ino);
      for (uint32_t e = 0; e < ix.DirEntryCount(ino); ++e) (void)ix.DirEntry(ino, e);
      for (uint32_t c = 0; c < ix.FileChunkCount(ino); ++c)
        (void)ix.Chunk(ix.FileChunk(ino, c).chunk);
    }
  }
  EXPECT_GT(refused, total / 2);
}

TEST(ImageIndexTest, RejectsDirectoryCycleAndBadLinkCounts) {
  {
    ImageIndexWriter w;  // a directory that is its own child, unreachable from the root
    uint32_t root = w.AddInode({S_IFDIR | 0755});
    uint32_t loop = w.AddInode({S_IFDIR | 0755});
    w.SetDirEntries(root, {});
    w.SetDirEntries(loop, {{"self", loop}});
    EXPECT_FALSE(w.Finish().ok());
  }
  {
    ImageIndexWriter w;  // nlink says 1 but two entries name the file
    uint32_t root = w.AddInode({S_IFDIR | 0755});
    uint32_t f = w.AddInode({S_IFREG | 0644, 0, 0, 1});
    w.SetDirEntries(root, {{"a", f}, {"b", f}});
    EXPECT_FALSE(w.Finish().ok());
  }
  {
    ImageIndexWriter w;  // bad names
    uint32_t root = w.AddInode({S_IFDIR | 0755});
    uint32_t f = w.AddInode({S_IFREG | 0644, 0, 0, 1});
    w.SetDirEntries(root, {{"..", f}});
    EXPECT_FALSE(w.Finish().ok());
  }
  {
    ImageIndexWriter w;  // chunks that do not add up to the size
    w.AddPack({Sha256("p"), 10});
    uint32_t c = w.AddChunk({Sha256("c"), 10, 10, 0, 0});
    uint32_t root = w.AddInode({S_IFDIR | 0755});
    uint32_t f = w.AddInode({S_IFREG | 0644, 0, 0, 1, 11});
    w.SetDirEntries(root, {{"f", f}});
    uint32_t list[] = {c};
    w.SetFileChunks(f, list);
    EXPECT_FALSE(w.Finish().ok());
  }
}

// A self-consistent hostile index (correct checksum) naming one chunk digest twice: with two
// lengths, reading the second file once returned daemon heap bytes; with one length it is still
// two records for one chunk. Both are refused, whatever the lengths.
TEST(ImageIndexTest, RefusesAChunkDigestListedTwice) {
  const std::string good = BuildSample();
  ASSERT_TRUE(ImageIndex::Parse(good).ok());
  // Chunk 1 (20 bytes) gets chunk 0's digest (40 bytes): one digest, two lengths.
  auto twice = ImageIndex::Parse(testing::WithChunkDigest(good, 1, Sha256("chunk-one")));
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.status().code(), Code::kCorruption);
  EXPECT_NE(twice.status().message().find("repeats chunk 0"), std::string::npos)
      << twice.status().ToString();

  ImageIndexWriter w;  // one digest, one length, twice: the writer refuses it too
  w.AddPack({Sha256("p"), 20});
  uint32_t a = w.AddChunk({Sha256("c"), 10, 10, 0, 0});
  uint32_t b = w.AddChunk({Sha256("c"), 10, 10, 0, 10});
  uint32_t root = w.AddInode({S_IFDIR | 0755});
  uint32_t f = w.AddInode({S_IFREG | 0644, 0, 0, 1, 20});
  w.SetDirEntries(root, {{"f", f}});
  uint32_t list[] = {a, b};
  w.SetFileChunks(f, list);
  auto bytes = w.Finish();
  ASSERT_FALSE(bytes.ok());
  EXPECT_NE(bytes.status().message().find("repeats chunk 0"), std::string::npos)
      << bytes.status().ToString();
}

// Chunk digests are compared by their first 8 bytes first: digests that share them (as a hostile
// index can make many do) are still told apart in full, and a repeat among them is found.
TEST(ImageIndexTest, ChunkDigestsSharingAPrefixAreToldApart) {
  // Chunk i has digest i (in bytes 20 and 31; bytes 0-7 zero for all), except those in `copies`,
  // which have chunk `of`'s.
  auto build = [](int n, int of, std::vector<int> copies) {
    ImageIndexWriter w;
    w.AddPack({Sha256("p"), 10u * n});
    std::vector<uint32_t> list;
    for (int i = 0; i < n; ++i) {
      const bool copy = std::find(copies.begin(), copies.end(), i) != copies.end();
      const uint8_t id = static_cast<uint8_t>(copy ? of : i);
      Digest d;
      d.bytes[31] = id;
      d.bytes[20] = static_cast<uint8_t>(id * 7);
      list.push_back(w.AddChunk({d, 10, 10, 0, 10u * i}));
    }
    uint32_t root = w.AddInode({S_IFDIR | 0755});
    uint32_t f = w.AddInode({S_IFREG | 0644, 0, 0, 1, 10u * n});
    w.SetDirEntries(root, {{"f", f}});
    w.SetFileChunks(f, list);
    return w.Finish();
  };
  auto distinct = build(60, 0, {});
  ASSERT_TRUE(distinct.ok()) << distinct.status().ToString();
  ASSERT_TRUE(ImageIndex::Parse(*distinct).ok());
  auto repeated = build(60, 7, {41});
  ASSERT_FALSE(repeated.ok());
  EXPECT_NE(repeated.status().message().find("chunk 41 repeats chunk 7 "), std::string::npos)
      << repeated.status().ToString();
  // Three records of one digest: the first two are named, whatever the sort did.
  auto thrice = build(60, 7, {52, 30});
  ASSERT_FALSE(thrice.ok());
  EXPECT_NE(thrice.status().message().find("chunk 30 repeats chunk 7 "), std::string::npos)
      << thrice.status().ToString();
}

TEST(ImageIndexTest, RefusesImpossibleChunkRecords) {
  struct Case {
    const char* what;
    ChunkRecord chunk;
    uint64_t pack_size;
  };
  const Digest d = Sha256("c");
  const Case cases[] = {
      {"zero length", {d, 0, 0, 0, 0}, 10},
      {"stored longer than raw", {d, 10, 11, 0, 0}, 20},
      {"stored length zero", {d, 10, 0, 0, 0}, 20},
      {"past the end of its pack", {d, 10, 10, 0, 5}, 10},
      {"offset past the pack", {d, 10, 10, 0, 1ull << 63}, 10},
      {"no such pack", {d, 10, 10, 1, 0}, 10},
      {"longer than the largest chunk", {d, kMaxChunkSize + 1, 10, 0, 0}, 10},
  };
  for (const Case& c : cases) {
    ImageIndexWriter w;
    w.AddPack({Sha256("p"), c.pack_size});
    w.AddChunk(c.chunk);
    w.AddInode({S_IFDIR | 0755});
    w.SetDirEntries(0, {});
    EXPECT_FALSE(w.Finish().ok()) << c.what;
  }
  ImageIndexWriter w;  // one pack listed twice
  w.AddPack({Sha256("p"), 10});
  w.AddPack({Sha256("p"), 20});
  w.AddInode({S_IFDIR | 0755});
  w.SetDirEntries(0, {});
  auto twice = w.Finish();
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("pack is listed twice"), std::string::npos);
}

// Found by read_fuzz: a key with a NUL split into two names in listxattr's reply.
TEST(ImageIndexTest, RefusesXattrsTheKernelCannotCarry) {
  const std::pair<std::string, std::string> bad[] = {
      {std::string("user.a\0b", 8), "v"},
      {"user." + std::string(251, 'k'), "v"},
      {"user.big", std::string(65537, 'v')},
  };
  for (const auto& xattr : bad) {
    ImageIndexWriter w;
    w.AddInode({S_IFDIR | 0755});
    w.SetDirEntries(0, {});
    w.SetXattrs(0, {xattr});
    EXPECT_FALSE(w.Finish().ok()) << xattr.first.size() << "-byte key";
  }
  ImageIndexWriter w;  // the limits themselves are fine
  w.AddInode({S_IFDIR | 0755});
  w.SetDirEntries(0, {});
  w.SetXattrs(0, {{"user." + std::string(250, 'k'), std::string(65536, 'v')}});
  EXPECT_TRUE(w.Finish().ok());
}

}  // namespace
}  // namespace imgfs
