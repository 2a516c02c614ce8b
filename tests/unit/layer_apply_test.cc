// Layer application semantics, end to end through BuildImageTree on hand-made OCI layouts.
#include <gtest/gtest.h>

#include "indexer/image_builder.h"
#include "tests/unit/image_test_util.h"

namespace imgfs {
namespace {

using namespace imgfs::testing;  // NOLINT

class LayerApplyTest : public ::testing::Test {
 protected:
  Result<indexer::ImageBuildInfo> Build(const std::vector<TestLayer>& layers,
                                        indexer::BuildOptions opts = {}) {
    OciLayoutWriter(dir_.path()).WriteImage(layers);
    tree_ = indexer::FsTree();
    return indexer::BuildImageTree("oci:" + dir_.path(), opts, writer_, &tree_);
  }
  std::shared_ptr<indexer::Inode> At(const std::string& p) { return Lookup(tree_, p); }

  TempDir dir_;
  FakeContentWriter writer_;
  indexer::FsTree tree_;
};

TEST_F(LayerApplyTest, EntryTypesAndAttributes) {
  TarItem suid = File("usr/bin/su", "binary", 04755);
  suid.uid = 1000;
  suid.gid = 2000;
  suid.mtime = 1234567890;
  suid.mtime_nsec = 123456789;
  suid.xattrs["security.capability"] = std::string("\x01\x00\x00\x02\x00\x20\x00\x00", 8);
  suid.xattrs["user.note"] = "hello";
  TarItem chr;
  chr.path = "dev/null";
  chr.type = 'c';
  chr.mode = 0666;
  chr.major = 1;
  chr.minor = 3;
  TarItem blk = chr;
  blk.path = "dev/sda";
  blk.type = 'b';
  blk.major = 8;
  blk.minor = 0;
  TarItem fifo;
  fifo.path = "run/fifo";
  fifo.type = 'p';
  fifo.mode = 0600;
  TarItem root = Dir("./", 0700);
  std::string long_name = "opt/" + std::string(150, 'a') + "/" + std::string(200, 'b');
  auto r = Build({Layer({root, Dir("tmp", 01777), suid, File("empty", ""), chr, blk, fifo,
                         Symlink("bin", "/usr/bin"), File(long_name, "long"),
                         Hardlink("usr/bin/su2", "usr/bin/su")})});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(tree_.root->mode, S_IFDIR | 0700u);
  EXPECT_EQ(At("tmp")->mode, S_IFDIR | 01777u);
  auto su = At("usr/bin/su");
  ASSERT_TRUE(su);
  EXPECT_EQ(su->mode, S_IFREG | 04755u);
  EXPECT_EQ(su->uid, 1000u);
  EXPECT_EQ(su->gid, 2000u);
  EXPECT_EQ(su->mtime_sec, 1234567890);
  EXPECT_EQ(su->mtime_nsec, 123456789u);
  EXPECT_EQ(su->size, 6u);
  EXPECT_EQ(writer_.Data(*su), "binary");
  EXPECT_EQ(su->xattrs.at("security.capability"), suid.xattrs["security.capability"]);
  EXPECT_EQ(su->xattrs.at("user.note"), "hello");
  EXPECT_EQ(At("usr/bin/su2"), su);  // one shared Inode
  EXPECT_EQ(At("empty")->size, 0u);
  EXPECT_TRUE(At("empty")->IsRegular());
  EXPECT_EQ(At("dev/null")->mode, S_IFCHR | 0666u);
  EXPECT_EQ(At("dev/null")->rdev_major, 1u);
  EXPECT_EQ(At("dev/null")->rdev_minor, 3u);
  EXPECT_EQ(At("dev/sda")->mode, S_IFBLK | 0666u);
  EXPECT_EQ(At("dev/sda")->rdev_major, 8u);
  EXPECT_EQ(At("run/fifo")->mode, S_IFIFO | 0600u);
  EXPECT_EQ(At("bin")->link_target, "/usr/bin");
  EXPECT_EQ(At("bin")->size, 8u);
  ASSERT_TRUE(At(long_name));
  EXPECT_EQ(writer_.Data(*At(long_name)), "long");
  // Implicit parents: 0755 root:root, mtime 0.
  EXPECT_EQ(At("usr")->mode, S_IFDIR | 0755u);
  EXPECT_EQ(At("usr")->mtime_sec, 0);
  EXPECT_EQ(r->layer_count, 1u);
  EXPECT_EQ(r->entries, 10u);
  EXPECT_EQ(r->layers_file_bytes, 10u);  // "binary" + "long", hardlink not counted
}

TEST_F(LayerApplyTest, NameFormsAreTheSamePath) {
  auto r = Build({Layer({File("/usr/bin/a", "1"), File("./usr/bin/b", "2"),
                         File("usr//bin/./c", "3"), Dir("usr/bin/", 0711)})});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(At("usr/bin")->children.size(), 3u);
  EXPECT_EQ(At("usr/bin")->mode, S_IFDIR | 0711u);
}

TEST_F(LayerApplyTest, WhiteoutRemovesLowerEntries) {
  auto r = Build({Layer({File("a", "1"), File("d/x", "2"), File("d/y", "3"), File("keep", "4")}),
                  Layer({File(".wh.a", ""), File(".wh.d", ""), File(".wh.missing", "")})});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(At("a"));
  EXPECT_FALSE(At("d"));
  EXPECT_FALSE(At(".wh.a"));
  EXPECT_TRUE(At("keep"));
  EXPECT_EQ(r->layers_file_bytes, 4u);  // deleted files still counted
}

TEST_F(LayerApplyTest, OpaqueDirKeepsSameLayerEntriesInAnyOrder) {
  auto lower = Layer({File("d/old", "1"), File("d/sub/old", "2"), File("e/old", "3")});
  auto r =
      Build({lower, Layer({File("d/new1", "a"), File("d/sub/new", "b"), File("d/.wh..wh..opq", ""),
                           File("d/new2", "c"), File("e/.wh..wh..opq", ""), File("e/new", "d")})});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(At("d/old"));
  EXPECT_FALSE(At("d/sub/old"));
  EXPECT_TRUE(At("d/new1"));
  EXPECT_TRUE(At("d/new2"));
  EXPECT_TRUE(At("d/sub/new"));
  EXPECT_FALSE(At("e/old"));
  EXPECT_TRUE(At("e/new"));
  EXPECT_FALSE(At("d/.wh..wh..opq"));
}

TEST_F(LayerApplyTest, HardlinkToLowerLayerSharesInode) {
  auto r =
      Build({Layer({File("bin/busybox", "bb", 0755)}),
             Layer({Hardlink("bin/sh", "bin/busybox"), Hardlink("/bin/ls", "./bin/busybox")})});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(At("bin/sh"), At("bin/busybox"));
  EXPECT_EQ(At("bin/ls"), At("bin/busybox"));
}

TEST_F(LayerApplyTest, DirectoryRedeclaredKeepsChildren) {
  TarItem d2 = Dir("etc", 0700);
  d2.uid = 5;
  d2.xattrs["user.x"] = "y";
  auto r = Build({Layer({Dir("etc"), File("etc/passwd", "root")}), Layer({d2})});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(At("etc")->mode, S_IFDIR | 0700u);
  EXPECT_EQ(At("etc")->uid, 5u);
  EXPECT_EQ(At("etc")->xattrs.at("user.x"), "y");
  EXPECT_TRUE(At("etc/passwd"));
}

TEST_F(LayerApplyTest, FileToDirToFile) {
  auto r = Build({Layer({File("x", "file")}), Layer({Dir("x"), File("x/child", "c")}),
                  Layer({File("x", "file again")})});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(At("x")->IsRegular());
  EXPECT_EQ(writer_.Data(*At("x")), "file again");
  EXPECT_TRUE(At("x")->children.empty());
}

TEST_F(LayerApplyTest, ReplacingOneHardlinkLeavesTheOther) {
  auto r = Build({Layer({File("a", "old"), Hardlink("b", "a")}), Layer({File("a", "new")})});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(At("a"), At("b"));
  EXPECT_EQ(writer_.Data(*At("b")), "old");
}

TEST_F(LayerApplyTest, SymlinkedParentsResolveInsideRoot) {
  auto r = Build({Layer({Dir("usr/lib"), Symlink("lib", "usr/lib"), Symlink("abs", "/usr/lib"),
                         Symlink("usr/up", "../../../../usr"), File("usr/lib/gone", "g")}),
                  Layer({File("lib/x", "1"), File("abs/y", "2"), File("usr/up/lib/z", "3"),
                         File("lib/.wh.gone", "")})});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(At("lib")->IsSymlink());
  EXPECT_TRUE(At("usr/lib/x"));
  EXPECT_TRUE(At("usr/lib/y"));
  EXPECT_TRUE(At("usr/lib/z"));
  EXPECT_FALSE(At("usr/lib/gone"));
}

TEST_F(LayerApplyTest, EscapingSymlinkStaysInsideRoot) {
  auto r = Build({Layer({Symlink("evil", "../../../../../tmp"), File("evil/x", "1")})});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(At("tmp/x"));
}

TEST_F(LayerApplyTest, SymlinkLoopIsAnError) {
  auto r = Build({Layer({Symlink("a", "b"), Symlink("b", "a"), File("a/x", "1")})});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("symbolic links"), std::string::npos) << r.status().message();
}

TEST_F(LayerApplyTest, PathTraversalIsRejected) {
  auto r = Build({Layer({File("../../etc/x", "evil")})});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("layer sha256:"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("entry \"../../etc/x\": path leaves the image root"),
            std::string::npos)
      << r.status().message();
}

TEST_F(LayerApplyTest, BadHardlinksAreRejected) {
  for (const TarItem& link :
       {Hardlink("x", "missing"), Hardlink("x", "../../etc/passwd"), Hardlink("x", "dir")}) {
    auto r = Build({Layer({Dir("dir"), link})});
    ASSERT_FALSE(r.ok()) << link.link;
    EXPECT_NE(r.status().message().find("hardlink target"), std::string::npos)
        << r.status().message();
  }
}

TEST_F(LayerApplyTest, LimitsAreEnforced) {
  indexer::BuildOptions few;
  few.max_entries = 3;
  auto r = Build({Layer({File("a", ""), File("b", ""), File("c", ""), File("d", "")})}, few);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kResourceExhausted);
  indexer::BuildOptions small;
  small.max_file_size = 4;
  r = Build({Layer({File("big", "12345")})}, small);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kResourceExhausted);
}

// A ustar header block (libarchive's writer cannot produce sparse entries, so the sparse test
// writes its tar by hand).
std::string UstarHeader(const std::string& name, size_t size, char type) {
  std::string h(512, '\0');
  h.replace(0, name.size(), name);
  auto octal = [&](size_t off, size_t width, uint64_t v) {
    std::string t(width - 1, '0');
    for (size_t i = width - 1; i-- > 0; v >>= 3) t[i] = static_cast<char>('0' + (v & 7));
    h.replace(off, width - 1, t);
  };
  octal(100, 8, 0644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size);
  octal(136, 12, 1700000000);
  h[156] = type;
  h.replace(257, 6, std::string("ustar\0", 6));
  h.replace(263, 2, "00");
  h.replace(148, 8, "        ");
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  octal(148, 7, sum);
  return h;
}

std::string Pad(std::string s) { return s + std::string((512 - s.size() % 512) % 512, '\0'); }

std::string PaxRecord(const std::string& kv) {
  size_t len = kv.size() + 3;
  while (std::to_string(len).size() + kv.size() + 2 != len) ++len;
  return std::to_string(len) + " " + kv + "\n";
}

TEST_F(LayerApplyTest, SparseFileHolesReadAsZeros) {
  // PAX sparse format 1.0: data regions [0,512) and [5632,6656) of an 8192-byte file.
  std::string pax = PaxRecord("GNU.sparse.major=1") + PaxRecord("GNU.sparse.minor=0") +
                    PaxRecord("GNU.sparse.name=sparse") + PaxRecord("GNU.sparse.realsize=8192");
  std::string region1(512, 'a'), region2(1024, 'b');
  std::string body = Pad("2\n0\n512\n5632\n1024\n") + region1 + region2;
  TestLayer l;
  l.tar = UstarHeader("PaxHeaders/sparse", pax.size(), 'x') + Pad(pax) +
          UstarHeader("GNUSparseFile.0/sparse", body.size(), '0') + body + std::string(1024, '\0');
  l.blob = Gzip(l.tar);
  l.media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
  auto r = Build({l});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::string want(8192, '\0');
  want.replace(0, 512, region1);
  want.replace(5632, 1024, region2);
  ASSERT_TRUE(At("sparse"));
  EXPECT_EQ(At("sparse")->size, 8192u);
  EXPECT_EQ(writer_.Data(*At("sparse")), want);
}

TEST_F(LayerApplyTest, GnuLongNamesAndLinks) {
  std::string dir = std::string(120, 'd');
  std::string name = dir + "/" + std::string(130, 'f');
  TestLayer l;
  l.tar = MakeTar({File(name, "gnu"), Hardlink(dir + "/" + std::string(140, 'h'), name),
                   Symlink("s", std::string(150, 't'))},
                  /*pax=*/false, /*gnu=*/true);
  l.blob = l.tar;
  l.media_type = "application/vnd.oci.image.layer.v1.tar";
  ASSERT_NE(l.tar.find("././@LongLink"), std::string::npos);
  auto r = Build({l});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(writer_.Data(*At(name)), "gnu");
  EXPECT_EQ(At(dir + "/" + std::string(140, 'h')), At(name));
  EXPECT_EQ(At("s")->link_target, std::string(150, 't'));
}

TEST_F(LayerApplyTest, WhiteoutThenRecreateInSameLayer) {
  // umoci: ".wh.b" and "b/" in one layer leave a fresh b without its lower contents, whatever
  // the order; ".wh.a" after "a/new" keeps only a/new.
  auto r =
      Build({Layer({File("a/keep", "k"), File("b/keep", "k")}),
             Layer({File("a/new", "n"), File(".wh.a", ""), File(".wh.b", ""), Dir("b", 0711)})});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(At("a/keep"));
  EXPECT_TRUE(At("a/new"));
  EXPECT_FALSE(At("b/keep"));
  EXPECT_EQ(At("b")->mode, S_IFDIR | 0711u);
}

TEST_F(LayerApplyTest, OutOfRangeIdsAreRejected) {
  TarItem big = File("a", "1");
  big.uid = 1ll << 33;
  auto r = Build({Layer({big})});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("uid/gid"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace imgfs
