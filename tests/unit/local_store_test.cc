#include "imgfs/local_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "core/chunk_codec.h"
#include "core/fd.h"
#include "tests/unit/daemon_test_util.h"

namespace imgfs {
namespace {

class LocalStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/imgfs-store-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<store::LocalStore> Open() {
    auto s = store::LocalStore::Open(dir_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  // An index with one file made of the given chunk contents.
  std::shared_ptr<const ImageIndex> IndexOf(store::LocalStore& store,
                                            std::vector<std::string> chunks) {
    ImageIndexWriter w;
    uint64_t pack_size = 0;
    std::vector<uint32_t> ids;
    std::vector<ChunkRecord> recs;
    for (const std::string& c : chunks) {
      std::string stored = EncodeChunk({reinterpret_cast<const uint8_t*>(c.data()), c.size()});
      Digest d = Sha256(c);
      EXPECT_TRUE(store.PutChunk(d, c.size(), stored).ok());
      recs.push_back({d, uint32_t(c.size()), uint32_t(stored.size()), 0, pack_size});
      pack_size += stored.size();
    }
    w.AddPack({Sha256("pack"), pack_size});
    uint64_t size = 0;
    for (auto& r : recs) ids.push_back(w.AddChunk(r)), size += r.length;
    uint32_t root = w.AddInode({S_IFDIR | 0755});
    uint32_t f = w.AddInode({S_IFREG | 0644, 0, 0, 1, size});
    w.SetDirEntries(root, {{"f", f}});
    w.SetFileChunks(f, ids);
    auto bytes = w.Finish();
    EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
    return *ImageIndex::Parse(*bytes);
  }

  // Publishes images "a" and "b", a chunk each, and closes the store.
  void PublishTwoAndClose(Digest* a, Digest* b) {
    auto store = Open();
    auto ia = IndexOf(*store, {"chunk-of-a"});
    auto ib = IndexOf(*store, {"chunk-of-b"});
    ASSERT_TRUE(store->SyncChunks().ok());
    ASSERT_TRUE(store->PublishIndex(*ia, "a").ok());
    ASSERT_TRUE(store->PublishIndex(*ib, "b").ok());
    *a = ia->digest(), *b = ib->digest();
  }

  std::string dir_;
};

TEST_F(LocalStoreTest, ChunksRoundTripAndSurviveReopen) {
  Digest d = Sha256("hello");
  {
    auto store = Open();
    EXPECT_FALSE(*store->HasChunk(d));
    ASSERT_TRUE(store->PutChunk(d, 5, "hello").ok());
    ASSERT_TRUE(store->SyncChunks().ok());
  }
  auto store = Open();
  EXPECT_TRUE(*store->HasChunk(d));
  auto got = store->GetStoredChunk(d);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "hello");
  EXPECT_EQ(store->GetStoredChunk(Sha256("absent")).status().code(), Code::kNotFound);
}

// A store is created with one sync per file behind a CREATING marker: none is left once Open
// returns. A marker that is left (the creation was cut short: nothing can have been stored)
// makes the next Open start the database over, and a read-only Open see no store yet.
TEST_F(LocalStoreTest, AnUnfinishedCreationIsStartedOver) {
  Digest d = Sha256("hello");
  {
    auto store = Open();
    ASSERT_TRUE(store);
    EXPECT_FALSE(std::filesystem::exists(dir_ + "/CREATING"));
    ASSERT_TRUE(store->PutChunk(d, 5, "hello").ok());
  }
  {
    auto store = Open();  // an existing store is opened as it is
    ASSERT_TRUE(store);
    EXPECT_TRUE(*store->HasChunk(d));
  }
  std::ofstream(dir_ + "/CREATING").close();
  std::ofstream(dir_ + "/000123.dbtmp") << "half-written";
  auto read_only = store::LocalStore::Open(dir_, /*read_only=*/true);
  EXPECT_EQ(read_only.status().code(), Code::kNotFound) << read_only.status().ToString();
  auto store = Open();
  ASSERT_TRUE(store);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/CREATING"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/000123.dbtmp"));
  EXPECT_FALSE(*store->HasChunk(d));  // a new database
  ASSERT_TRUE(store->PutChunk(d, 5, "hello").ok());
  EXPECT_TRUE(*store->HasChunk(d));
}

// Two first opens of one new store at once (two first mounts): one gets the store, the other
// is told it is busy, and what the first created is whole (the second waited for its creation
// instead of taking its files for an unfinished creation's).
TEST_F(LocalStoreTest, TwoFirstOpensAtOnceLeaveOneWholeStore) {
  Digest d = Sha256("hello");
  for (int round = 0; round < 8; ++round) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::unique_ptr<store::LocalStore> opened[2];
    std::vector<std::thread> threads;
    for (auto& slot : opened)
      threads.emplace_back([&] {
        auto s = store::LocalStore::Open(dir_);
        if (s.ok()) slot = std::move(s).value();
      });
    for (auto& t : threads) t.join();
    ASSERT_EQ((opened[0] != nullptr) + (opened[1] != nullptr), 1) << "round " << round;
    store::LocalStore& winner = opened[0] ? *opened[0] : *opened[1];
    ASSERT_TRUE(winner.PutChunk(d, 5, "hello").ok());
    ASSERT_TRUE(winner.SyncChunks().ok());
    opened[0].reset();
    opened[1].reset();
    auto again = Open();
    ASSERT_TRUE(again);
    EXPECT_TRUE(*again->HasChunk(d)) << "round " << round;
  }
}

// A creation in progress in another process (its flock on the store directory, its marker and a
// first file) is waited for, not taken for an unfinished one: nothing is removed while the lock
// is held; once it is released (that process died mid-creation), the store is created anew.
TEST_F(LocalStoreTest, ACreationInProgressIsWaitedFor) {
  UniqueFd dir(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_TRUE(dir.valid());
  ASSERT_EQ(::flock(dir.get(), LOCK_EX), 0);
  std::ofstream(dir_ + "/CREATING").close();
  std::ofstream(dir_ + "/MANIFEST-000001") << "being written";
  std::atomic<bool> done{false};
  std::unique_ptr<store::LocalStore> opened;
  std::thread opener([&] {
    auto s = store::LocalStore::Open(dir_);
    if (s.ok()) opened = std::move(s).value();
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the absence of an event
  EXPECT_FALSE(done);
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/MANIFEST-000001"));
  dir.Reset();  // the creator is gone
  opener.join();
  ASSERT_TRUE(opened);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/CREATING"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/MANIFEST-000001"));
  Digest d = Sha256("hello");
  EXPECT_TRUE(opened->PutChunk(d, 5, "hello").ok());
}

TEST_F(LocalStoreTest, ABitFlippedOnDiskIsCorruptionNeverWrongBytes) {
  // 20000 bytes: large enough for the data files (smaller chunks stay in RocksDB).
  const std::string bytes(20000, 'h');
  Digest d = Sha256(bytes);
  {
    auto store = Open();
    ASSERT_TRUE(store->PutChunk(d, bytes.size(), bytes).ok());
    ASSERT_TRUE(store->SyncChunks().ok());
  }
  {  // the first chunk of the first data file starts at its first byte
    std::fstream f(dir_ + "/data/00000001.dat", std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.is_open());
    f.seekp(3);
    f.put('X');
  }
  auto store = Open();
  auto got = store->GetStoredChunk(d);
  EXPECT_EQ(got.status().code(), Code::kCorruption) << got.status().ToString();
  ASSERT_TRUE(store->DeleteChunk(d).ok());
  EXPECT_FALSE(*store->HasAnyChunk(d));
  ASSERT_TRUE(store->PutChunk(d, bytes.size(), bytes).ok());
  got = store->GetStoredChunk(d);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got == bytes);
}

// GetIndex checks neither RocksDB's record checksum nor the index's SHA-256 (it was stored under
// its digest); the index's XXH3 trailer still turns a flipped bit on disk into Corruption.
TEST_F(LocalStoreTest, ABitFlippedInAStoredIndexIsCorruption) {
  Digest digest;
  {
    auto store = Open();
    auto index = IndexOf(*store, {"some-chunk"});
    ASSERT_TRUE(store->SyncChunks().ok());
    ASSERT_TRUE(store->PublishIndex(*index, "img").ok());
    digest = index->digest();
    ASSERT_TRUE(store->GetIndex(digest).ok());
  }
  int flipped = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    std::fstream f(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(f)), {});
    for (size_t at = text.find(std::string("IMGFSIX\0", 8)); at != std::string::npos;
         at = text.find(std::string("IMGFSIX\0", 8), at + 1)) {
      f.clear();
      f.seekp(static_cast<std::streamoff>(at + 40));
      f.put(static_cast<char>(text[at + 40] ^ 0x04));
      ++flipped;
    }
  }
  ASSERT_GT(flipped, 0) << "the index's bytes were not found in the store's files";
  auto store = Open();
  auto got = store->GetIndex(digest);
  EXPECT_EQ(got.status().code(), Code::kCorruption) << got.status().ToString();
}

// The digests "index_keys" holds, read with RocksDB itself, or nothing when the store has no
// such family.
std::optional<std::set<std::string>> IndexKeysOnDisk(const std::string& dir) {
  std::vector<std::string> names;
  if (!rocksdb::DB::ListColumnFamilies({}, dir, &names).ok()) return std::nullopt;
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const std::string& n : names) families.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  if (!rocksdb::DB::OpenForReadOnly({}, dir, families, &handles, &db).ok()) return std::nullopt;
  std::optional<std::set<std::string>> keys;
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] != "index_keys") continue;
    keys.emplace();
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}, handles[i]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) keys->insert(it->key().ToString());
  }
  for (auto* h : handles) (void)db->DestroyColumnFamilyHandle(h);
  delete db;
  return keys;
}

// Opens the store's RocksDB itself, every family, and hands EDIT the database and the handles
// by family name.
void EditWithRocksDb(
    const std::string& dir,
    const std::function<void(rocksdb::DB*, std::map<std::string, rocksdb::ColumnFamilyHandle*>&)>&
        edit) {
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies({}, dir, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const std::string& n : names) families.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open({}, dir, families, &handles, &db).ok());
  std::map<std::string, rocksdb::ColumnFamilyHandle*> by_name;
  for (size_t i = 0; i < names.size(); ++i) by_name[names[i]] = handles[i];
  edit(db, by_name);
  for (auto* h : handles) (void)db->DestroyColumnFamilyHandle(h);
  delete db;
}

// What a store written before "index_keys" looks like: the family and its marker gone.
void RemoveIndexKeys(const std::string& dir) {
  EditWithRocksDb(dir, [](rocksdb::DB* db, auto& family) {
    EXPECT_TRUE(db->DropColumnFamily(family.at("index_keys")).ok());
    EXPECT_TRUE(db->Delete({}, family.at("default"), "index_keys complete").ok());
  });
}

std::string KeyOf(const Digest& d) {
  return std::string(reinterpret_cast<const char*>(d.bytes.data()), d.bytes.size());
}

TEST_F(LocalStoreTest, IndexesAreListedFromTheirKeysAndOlderStoresGetThem) {
  Digest a, b;
  ASSERT_NO_FATAL_FAILURE(PublishTwoAndClose(&a, &b));
  const std::set<std::string> both = {KeyOf(a), KeyOf(b)};
  EXPECT_EQ(IndexKeysOnDisk(dir_), both);

  RemoveIndexKeys(dir_);
  ASSERT_EQ(IndexKeysOnDisk(dir_), std::nullopt);
  {
    // Read-only, an older store is listed from its indexes themselves, and left as it is.
    auto ro = store::LocalStore::Open(dir_, /*read_only=*/true);
    ASSERT_TRUE(ro.ok()) << ro.status().ToString();
    auto listed = (*ro)->ListIndexes();
    ASSERT_TRUE(listed.ok()) << listed.status().ToString();
    EXPECT_EQ(std::set<Digest>(listed->begin(), listed->end()), (std::set<Digest>{a, b}));
    EXPECT_EQ(*(*ro)->Resolve(b.Hex().substr(0, 10)), b);
  }
  EXPECT_EQ(IndexKeysOnDisk(dir_), std::nullopt);

  // The first writable open fills the list; collection keeps it in step.
  auto store = Open();
  auto listed = store->ListIndexes();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(std::set<Digest>(listed->begin(), listed->end()), (std::set<Digest>{a, b}));
  ASSERT_TRUE(store->DeleteRef("a").ok());
  auto gc = store->GarbageCollect();
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->indexes_removed, 1u);
  EXPECT_EQ(*store->ListIndexes(), std::vector<Digest>{b});
  EXPECT_EQ(store->Resolve(a.Hex().substr(0, 10)).status().code(), Code::kNotFound);
  EXPECT_EQ(store->Resolve(a.ToString()).status().code(), Code::kNotFound);
  EXPECT_EQ(*store->Resolve(b.ToString()), b);
  store.reset();
  EXPECT_EQ(IndexKeysOnDisk(dir_), std::set<std::string>{KeyOf(b)});
}

TEST_F(LocalStoreTest, CollectionTrustsTheIndexesNotTheirListAndMendsIt) {
  Digest a, b;
  ASSERT_NO_FATAL_FAILURE(PublishTwoAndClose(&a, &b));
  // The list loses b and gains a digest with no index.
  const Digest ghost = Sha256("no such index");
  EditWithRocksDb(dir_, [&](rocksdb::DB* db, auto& family) {
    EXPECT_TRUE(db->Delete({}, family.at("index_keys"), KeyOf(b)).ok());
    EXPECT_TRUE(db->Put({}, family.at("index_keys"), KeyOf(ghost), "").ok());
  });
  auto store = Open();
  auto listed = store->ListIndexes();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(std::set<Digest>(listed->begin(), listed->end()), (std::set<Digest>{a, ghost}))
      << "listed from the indexes, not from their list";
  auto gc = store->GarbageCollect();
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->indexes_removed, 0u);
  EXPECT_EQ(gc->chunks_removed, 0u) << "b's chunk was taken for garbage";
  EXPECT_TRUE(*store->HasChunk(Sha256("chunk-of-b")));
  listed = store->ListIndexes();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(std::set<Digest>(listed->begin(), listed->end()), (std::set<Digest>{a, b}));
}

TEST_F(LocalStoreTest, SmallAndLargeChunksRoundTripAndAreRemoved) {
  auto store = Open();
  const std::string small(100, 's'), large(70000, 'l');
  ASSERT_TRUE(store->PutCachedChunk(Sha256(small), small.size(), small).ok());
  ASSERT_TRUE(store->PutCachedChunk(Sha256(large), large.size(), large).ok());
  EXPECT_TRUE(*store->GetStoredChunk(Sha256(small)) == small);
  EXPECT_TRUE(*store->GetStoredChunk(Sha256(large)) == large);
  // Pinning a cached chunk stores it again; the cached copy's space goes.
  ASSERT_TRUE(store->PutChunk(Sha256(large), large.size(), large).ok());
  EXPECT_TRUE(*store->HasChunk(Sha256(large)));
  EXPECT_TRUE(*store->GetStoredChunk(Sha256(large)) == large);
  EXPECT_EQ(*store->EvictChunk(Sha256(large)), 0u) << "a pinned chunk was evicted";
  EXPECT_EQ(*store->EvictChunk(Sha256(small)), small.size());
  EXPECT_EQ(store->GetStoredChunk(Sha256(small)).status().code(), Code::kNotFound);
  ASSERT_TRUE(store->DeleteChunk(Sha256(large)).ok());
  EXPECT_EQ(store->GetStoredChunk(Sha256(large)).status().code(), Code::kNotFound);
  EXPECT_EQ(store->Stats()->chunks, 0u);
}

TEST_F(LocalStoreTest, CollectionKeepsWhatItIsToldIsInUse) {
  auto store = Open();
  const std::string big = testing::NoiseBytes(30000, 1);  // incompressible: in a data file
  auto a = IndexOf(*store, {"in-use", big});
  ASSERT_TRUE(store->SyncChunks().ok());
  ASSERT_TRUE(store->PublishIndex(*a, "a").ok());
  auto removed = store->RemoveImage("a");
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, std::vector<std::string>{"a"});
  EXPECT_EQ(store->RemoveImage("a").status().code(), Code::kNotFound);
  auto gc = store->GarbageCollect({a->digest()});  // mounted: kept though unnamed
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->indexes_removed, 0u);
  EXPECT_EQ(gc->chunks_removed, 0u);
  EXPECT_TRUE(store->GetStoredChunk(Sha256(big)).ok());
  store.reset();  // as `imgfs gc` would: a process that is not appending to the data file
  store = Open();
  gc = store->GarbageCollect();
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->indexes_removed, 1u);
  EXPECT_EQ(gc->chunks_removed, 2u);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/data/00000001.dat"))
      << "a data file with nothing left in it was kept";
}

TEST_F(LocalStoreTest, SecondProcessIsToldTheStoreIsBusy) {
  auto store = Open();
  auto second = store::LocalStore::Open(dir_);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("in use"), std::string::npos)
      << second.status().ToString();
}

TEST_F(LocalStoreTest, PublishResolveListRemoveAndCollect) {
  auto store = Open();
  auto a = IndexOf(*store, {"shared-chunk", "only-in-a"});
  auto b = IndexOf(*store, {"shared-chunk", "only-in-b"});
  ASSERT_TRUE(store->SyncChunks().ok());
  ASSERT_TRUE(store->PublishIndex(*a, "img-a").ok());
  ASSERT_TRUE(store->PublishIndex(*b, "img-b").ok());
  Digest orphan = Sha256("orphan");
  ASSERT_TRUE(store->PutChunk(orphan, 6, "orphan").ok());

  EXPECT_EQ(*store->Resolve("img-a"), a->digest());
  EXPECT_EQ(*store->Resolve(b->digest().ToString()), b->digest());
  EXPECT_EQ(*store->Resolve(b->digest().Hex().substr(0, 12)), b->digest());
  EXPECT_FALSE(store->Resolve("nope").ok());
  EXPECT_EQ(store->ListRefs()->size(), 2u);

  auto gc = store->GarbageCollect();
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->chunks_removed, 1u);  // only the orphan
  EXPECT_EQ(store->Stats()->chunks, 3u);

  ASSERT_TRUE(store->DeleteRef("img-a").ok());
  gc = store->GarbageCollect();
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->indexes_removed, 1u);
  EXPECT_EQ(gc->chunks_removed, 1u);  // only-in-a; the shared chunk stays for img-b
  EXPECT_TRUE(*store->HasChunk(Sha256("shared-chunk")));
  EXPECT_FALSE(*store->HasChunk(Sha256("only-in-a")));
  EXPECT_FALSE(store->GetIndex(a->digest()).ok());
  EXPECT_TRUE(store->GetIndex(b->digest()).ok());
}

}  // namespace
}  // namespace imgfs
