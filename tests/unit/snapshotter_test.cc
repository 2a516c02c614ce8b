// The snapshotter's logic without containerd: the snapshot table (rules, persistence, a
// restart), chain IDs, which layers are remote, and the mounts of snapshot chains, with a fake
// catalog and mounter in a temporary directory.
#include "imgfs/snapshotter/snapshotter.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "core/fd.h"
#include "core/image_index.h"
#include "imgfs/local_store.h"
#include "imgfs/snapshotter/chain_id.h"
#include "imgfs/snapshotter/image_catalog.h"
#include "imgfs/snapshotter/snapshot_table.h"

namespace imgfs::snapshotter {
namespace {

const std::string kA = "sha256:" + std::string(64, 'a');
const std::string kB = "sha256:" + std::string(64, 'b');
const std::string kC = "sha256:" + std::string(64, 'c');
// sha256("<A> <B>") and sha256("<that> <C>"), computed outside this code.
const std::string kChainAB =
    "sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c";
const std::string kChainABC =
    "sha256:c1377126441fb2f5ec2c21ae2a60255331d639e830f0ee1b40a36e52d4c40588";

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/snapshotter_test.XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(ChainIdTest, FollowsTheImageSpec) {
  auto ids = ChainIds({kA, kB, kC});
  ASSERT_TRUE(ids.ok()) << ids.status().message();
  EXPECT_EQ(*ids, (std::vector<std::string>{kA, kChainAB, kChainABC}));
  EXPECT_FALSE(ChainIds({"md5:abc"}).ok());
}

TEST(SnapshotTableTest, EnforcesContainerdRules) {
  TempDir dir;
  auto table = SnapshotTable::Load(dir.path() + "/metadata.json");
  ASSERT_TRUE(table.ok());
  ASSERT_TRUE(table->Create("base-active", "", Kind::kActive, {}, 1).ok());
  // An active snapshot is no parent; a missing one neither.
  EXPECT_EQ(table->Create("x", "base-active", Kind::kActive, {}, 2).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(table->Create("x", "nope", Kind::kActive, {}, 2).status().code(), Code::kNotFound);
  EXPECT_EQ(table->Create("base-active", "", Kind::kView, {}, 2).status().code(),
            Code::kAlreadyExists);
  auto committed = table->Commit("base", "base-active", {{"l", "v"}}, 3);
  ASSERT_TRUE(committed.ok());
  EXPECT_EQ(committed->kind, Kind::kCommitted);
  EXPECT_FALSE(table->Get("base-active").ok());
  // Committing keeps the directory.
  auto child = table->Create("child", "base", Kind::kActive, {}, 4);
  ASSERT_TRUE(child.ok());
  EXPECT_NE(child->id, committed->id);
  EXPECT_EQ(table->Commit("c2", "base", {}, 5).status().code(), Code::kInvalidArgument);
  // No removing a parent; children first.
  EXPECT_EQ(table->Remove("base").status().code(), Code::kInvalidArgument);
  auto ancestors = table->Ancestors("child");
  ASSERT_TRUE(ancestors.ok());
  ASSERT_EQ(ancestors->size(), 1u);
  EXPECT_EQ((*ancestors)[0].name, "base");
  EXPECT_TRUE(table->Remove("child").ok());
  EXPECT_TRUE(table->Remove("base").ok());
  EXPECT_TRUE(table->List().empty());
  // Labels: containerd's 4096-byte bound.
  EXPECT_EQ(
      table->Create("big", "", Kind::kActive, {{"k", std::string(4096, 'v')}}, 6).status().code(),
      Code::kInvalidArgument);
}

TEST(SnapshotTableTest, UpdatesOnlyLabelsByFieldPath) {
  auto table = SnapshotTable::Load("");
  ASSERT_TRUE(table.ok());
  ASSERT_TRUE(table->Create("s", "", Kind::kActive, {{"a", "1"}, {"b", "2"}}, 1).ok());
  SnapshotInfo in;
  in.name = "s";
  in.labels = {{"a", "10"}, {"c", "3"}};
  auto one = table->Update(in, {"labels.a", "labels.b"}, 2);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->labels, (Labels{{"a", "10"}}));  // b absent from the request: removed
  auto all = table->Update(in, {}, 3);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->labels, in.labels);
  EXPECT_EQ(all->updated_ns, 3);
  EXPECT_EQ(table->Update(in, {"parent"}, 4).status().code(), Code::kInvalidArgument);
}

TEST(SnapshotTableTest, SurvivesARestartAndRefusesACorruptFile) {
  TempDir dir;
  const std::string path = dir.path() + "/metadata.json";
  {
    auto table = SnapshotTable::Load(path);
    ASSERT_TRUE(table.ok());
    ASSERT_TRUE(table->Create("a", "", Kind::kActive, {{"containerd.io/gc.root", "x"}}, 7).ok());
    ASSERT_TRUE(table->Commit("A", "a", {}, 8).ok());
    ASSERT_TRUE(
        table->CreateRemote(kChainAB, "A", {}, {"sha256:idx", "docker://r/x", 2, 2}, 9).ok());
  }
  auto again = SnapshotTable::Load(path);
  ASSERT_TRUE(again.ok()) << again.status().message();
  auto remote = again->Get(kChainAB);
  ASSERT_TRUE(remote.ok());
  ASSERT_TRUE(remote->remote.has_value());
  EXPECT_EQ(remote->remote->index, "sha256:idx");
  EXPECT_EQ(remote->parent, "A");
  EXPECT_EQ(remote->created_ns, 9);
  // New ids never reuse old ones.
  auto next = again->Create("n", "", Kind::kActive, {}, 10);
  ASSERT_TRUE(next.ok());
  for (const SnapshotInfo& s : again->List()) {
    if (s.name == "n") continue;
    EXPECT_NE(s.id, next->id);
  }

  ASSERT_TRUE(
      WriteFileAtomic(path, "{\"version\":1,\"next_id\":1,\"snapshots\":[{\"name\":1}]}").ok());
  EXPECT_EQ(SnapshotTable::Load(path).status().code(), Code::kCorruption);
  ASSERT_TRUE(WriteFileAtomic(path, "not json").ok());
  EXPECT_EQ(SnapshotTable::Load(path).status().code(), Code::kCorruption);
}

TEST(ImageCatalogTest, ClaimsWholeImagesOrThePulledImage) {
  std::vector<CatalogImage> images = {
      {"sha256:i", "docker://r/x", "sha256:m", {kA, kChainAB}, /*converted_here=*/true, ""}};
  // The top layer: whatever is below, the lazy mount is the whole image.
  auto top = MatchLayer(images, kChainAB, {});
  ASSERT_TRUE(top.has_value());
  EXPECT_EQ(top->layers, 2u);
  EXPECT_EQ(top->total, 2u);
  // A lower layer only when the pull names this image's manifest.
  EXPECT_FALSE(MatchLayer(images, kA, {}).has_value());
  EXPECT_FALSE(MatchLayer(images, kA, {{kCriManifestLabel, "sha256:other"}}).has_value());
  auto lower = MatchLayer(images, kA, {{kCriManifestLabel, "sha256:m"}});
  ASSERT_TRUE(lower.has_value());
  EXPECT_EQ(lower->layers, 1u);
  EXPECT_TRUE(MatchLayer(images, kA, {{kImgfsManifestLabel, "sha256:m"}}).has_value());
  EXPECT_FALSE(MatchLayer(images, kChainABC, {}).has_value());
}

// An index fetched into the shared store (an artifact some workload's image named) claims the
// chain IDs of another image: only the pull it was fetched for takes its word.
TEST(ImageCatalogTest, AFetchedImageServesOnlyThePullItWasFetchedFor) {
  const CatalogImage fetched{
      "sha256:evil",  "docker://evil.example/x", "sha256:m",
      {kA, kChainAB}, /*converted_here=*/false,  "docker://evil.example/x:1"};
  const std::vector<CatalogImage> images = {fetched};
  // Another image's pulls, whole or layer by layer, with or without CRI's labels.
  EXPECT_FALSE(MatchLayer(images, kChainAB, {}).has_value());
  EXPECT_FALSE(MatchLayer(images, kChainAB,
                          {{kCriImageRefLabel, "docker.io/library/python:3"},
                           {kCriManifestLabel, "sha256:m"}})
                   .has_value());
  EXPECT_FALSE(MatchLayer(images, kA,
                          {{kCriImageRefLabel, "docker.io/library/python:3"},
                           {kCriManifestLabel, "sha256:m"}})
                   .has_value());
  // Its own reference but another manifest (the tag moved on): not this index.
  EXPECT_FALSE(
      MatchLayer(images, kChainAB,
                 {{kCriImageRefLabel, "evil.example/x:1"}, {kCriManifestLabel, "sha256:other"}})
          .has_value());
  EXPECT_FALSE(MatchLayer(images, kChainAB, {{kCriImageRefLabel, "evil.example/x:1"}}).has_value());
  // The pull it was fetched for.
  auto own = MatchLayer(images, kA,
                        {{kCriImageRefLabel, "evil.example/x:1"}, {kCriManifestLabel, "sha256:m"}});
  ASSERT_TRUE(own.has_value());
  EXPECT_EQ(own->index, "sha256:evil");
  EXPECT_EQ(own->layers, 1u);
  // `imgfs snapshotter unpack` of it names its index (its lower layers too).
  EXPECT_TRUE(MatchLayer(images, kA, {{kImgfsIndexLabel, "sha256:evil"}}).has_value());
  // Naming the manifest it claims is not enough: another image (even one converted here) has it.
  EXPECT_FALSE(MatchLayer(images, kChainAB, {{kImgfsManifestLabel, "sha256:m"}}).has_value());
  // A fetched index naming no manifest serves only by its index digest.
  CatalogImage anonymous = fetched;
  anonymous.manifest_digest = "";
  EXPECT_FALSE(MatchLayer({anonymous}, kChainAB, {{kImgfsManifestLabel, ""}}).has_value());
  EXPECT_FALSE(MatchLayer({anonymous}, kChainAB,
                          {{kCriImageRefLabel, "evil.example/x:1"}, {kCriManifestLabel, ""}})
                   .has_value());
  EXPECT_TRUE(MatchLayer({anonymous}, kChainAB, {{kImgfsIndexLabel, "sha256:evil"}}).has_value());
  // Converted here, its chain IDs were checked against its layers: any pull may use it.
  CatalogImage converted = fetched;
  converted.converted_here = true;
  EXPECT_TRUE(MatchLayer({converted}, kChainAB,
                         {{kCriImageRefLabel, "docker.io/library/python:3"},
                          {kCriManifestLabel, "sha256:n"}})
                  .has_value());
}

// An empty image whose metadata says it is MANIFEST with layers A and B.
std::shared_ptr<const ImageIndex> ImageOfAB(const std::string& manifest) {
  ImageIndexWriter w;
  w.AddInode({S_IFDIR | 0755});
  w.SetDirEntries(0, {});
  w.SetMetadata(R"({"manifest_digest":")" + manifest +
                R"(","config":{"rootfs":{"type":"layers","diff_ids":[")" + kA + "\",\"" + kB +
                "\"]}}}");
  auto bytes = w.Finish();
  EXPECT_TRUE(bytes.ok()) << bytes.status().message();
  auto index = ImageIndex::Parse(std::move(*bytes));
  EXPECT_TRUE(index.ok()) << index.status().message();
  return *index;
}

// The same, through a real store: what the catalog vouches for comes from the store's own
// record of a conversion, not from the index.
TEST(ImageCatalogTest, TheStoreSaysWhichIndexesWereConvertedHere) {
  TempDir dir;
  const std::string path = dir.path() + "/store";
  const Labels python = {{kCriImageRefLabel, "docker.io/library/python:3"},
                         {kCriManifestLabel, "sha256:m"}};
  const Labels evil = {{kCriImageRefLabel, "evil.example/x:1"}, {kCriManifestLabel, "sha256:m"}};
  std::shared_ptr<const ImageIndex> fetched = ImageOfAB("sha256:m");
  {
    auto store = store::LocalStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status().message();
    ASSERT_TRUE((*store)
                    ->PublishIndex(*fetched, "docker://evil.example/x:1",
                                   store::LocalStore::Durability::kRefetchable,
                                   store::LocalStore::Origin::kFetched)
                    .ok());
  }
  int pulls = 0;
  auto no_artifact = [&](const std::string&,
                         const registry::ClientOptions&) -> Result<PulledIndex> {
    ++pulls;
    return Status::NotFound("no imgfs artifact");
  };
  {
    StoreCatalog catalog(path, {}, "", no_artifact);
    // Another image's pull: not served from the fetched index (the registry is asked instead).
    auto found = catalog.Find(kChainAB, python);
    ASSERT_TRUE(found.ok()) << found.status().message();
    EXPECT_FALSE(found->has_value());
    EXPECT_EQ(pulls, 1);
    // The pull it was fetched for.
    found = catalog.Find(kChainAB, evil);
    ASSERT_TRUE(found.ok()) << found.status().message();
    ASSERT_TRUE(found->has_value());
    EXPECT_EQ((*found)->index, fetched->digest().ToString());
  }
  // Converted here (another index with the same chain IDs): vouched for any pull.
  std::shared_ptr<const ImageIndex> converted = ImageOfAB("sha256:n");
  {
    auto store = store::LocalStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status().message();
    ASSERT_TRUE((*store)
                    ->PublishIndex(*converted, "python", store::LocalStore::Durability::kSynced,
                                   store::LocalStore::Origin::kConverted)
                    .ok());
    EXPECT_TRUE(*(*store)->ConvertedHere(converted->digest()));
    EXPECT_FALSE(*(*store)->ConvertedHere(fetched->digest()));
  }
  StoreCatalog catalog(path, {}, "", no_artifact);
  auto found = catalog.Find(kChainAB, python);
  ASSERT_TRUE(found.ok()) << found.status().message();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->index, converted->digest().ToString());
  // Once no name keeps it, gc drops the index and the record of its conversion.
  auto store = store::LocalStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status().message();
  ASSERT_TRUE((*store)->DeleteRef("python").ok());
  ASSERT_TRUE((*store)->GarbageCollect().ok());
  EXPECT_FALSE(*(*store)->ConvertedHere(converted->digest()));
}

// `snapshotter.registries`: a fetched image from elsewhere answers no CRI pull, and no
// registry elsewhere is asked for an artifact.
TEST(ImageCatalogTest, OnlyTheConfiguredRegistriesServeCriPulls) {
  TempDir dir;
  const std::string path = dir.path() + "/store";
  std::shared_ptr<const ImageIndex> fetched = ImageOfAB("sha256:m");
  {
    auto store = store::LocalStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status().message();
    ASSERT_TRUE((*store)->PublishIndex(*fetched, "docker://evil.example/x:1").ok());
  }
  int pulls = 0;
  auto no_artifact = [&](const std::string&,
                         const registry::ClientOptions&) -> Result<PulledIndex> {
    ++pulls;
    return Status::NotFound("no imgfs artifact");
  };
  const Labels evil = {{kCriImageRefLabel, "evil.example/x:1"}, {kCriManifestLabel, "sha256:m"}};
  const Labels other = {{kCriImageRefLabel, "evil.example.org/y:1"},
                        {kCriManifestLabel, "sha256:n"}};
  for (const auto& [registries, served] : std::vector<std::pair<std::vector<std::string>, bool>>{
           {{}, true},
           {{"evil.example"}, true},
           {{"evil.example/x"}, true},
           {{"reg.internal:5000", "evil.example/xy"}, false},
           {{"evil.exam"}, false}}) {
    StoreCatalog catalog(path, {}, "", no_artifact, registries);
    auto found = catalog.Find(kChainAB, evil);
    ASSERT_TRUE(found.ok()) << found.status().message();
    EXPECT_EQ(found->has_value(), served) << ::testing::PrintToString(registries);
    pulls = 0;
    ASSERT_TRUE(catalog.Find(kChainAB, other).ok());
    EXPECT_EQ(pulls, registries.empty() ? 1 : 0) << ::testing::PrintToString(registries);
    // Named by its index (`imgfs snapshotter unpack`), it is served whatever the list.
    found = catalog.Find(kChainAB, {{kImgfsIndexLabel, fetched->digest().ToString()}});
    ASSERT_TRUE(found.ok()) << found.status().message();
    EXPECT_TRUE(found->has_value());
  }
}

TEST(ImageCatalogTest, ReadsChainIdsFromIndexMetadata) {
  auto image = CatalogImageFromMetadata(
      R"({"manifest_digest":"sha256:m","config":{"rootfs":{"type":"layers","diff_ids":[")" + kA +
      "\",\"" + kB + "\"]}}}");
  ASSERT_TRUE(image.ok()) << image.status().message();
  EXPECT_EQ(image->chain_ids, (std::vector<std::string>{kA, kChainAB}));
  EXPECT_EQ(image->manifest_digest, "sha256:m");
  auto none = CatalogImageFromMetadata(R"({"source":"dir:/x"})");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->chain_ids.empty());
  EXPECT_FALSE(CatalogImageFromMetadata("[").ok());
  EXPECT_FALSE(CatalogImageFromMetadata(R"({"config":{"rootfs":{"diff_ids":[7]}}})").ok());
}

class FakeCatalog : public ImageCatalog {
 public:
  Result<std::optional<RemoteLayer>> Find(const std::string& chain_id,
                                          const Labels& labels) override {
    if (!error.ok()) return error;
    return MatchLayer(images, chain_id, labels);
  }
  std::vector<CatalogImage> images;
  Status error;
};

class FakeMounter : public ImageMounter {
 public:
  Status Mount(const std::string& index, const std::string&, const std::string& mp) override {
    std::lock_guard lock(mu);
    mounted.insert(mp);
    ++mounts;
    return Status::Ok();
  }
  int Mounts() {
    std::lock_guard lock(mu);
    return mounts;
  }
  std::mutex mu;
  std::set<std::string> mounted;
  int mounts = 0;
};

// A gate a fake's call waits at until the test opens it; the test waits until a call arrived.
class Gate {
 public:
  void Arrive() {
    std::unique_lock lock(mu_);
    arrived_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  void WaitArrived() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return arrived_; });
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool arrived_ = false;
  bool open_ = false;
};

// A catalog whose look-up (a registry, in the real one) waits at a gate.
class SlowCatalog : public FakeCatalog {
 public:
  Result<std::optional<RemoteLayer>> Find(const std::string& chain_id,
                                          const Labels& labels) override {
    gate.Arrive();
    return FakeCatalog::Find(chain_id, labels);
  }
  Gate gate;
};

// A mounter whose mount (the daemon fetching an index) waits at a gate.
class SlowMounter : public FakeMounter {
 public:
  Status Mount(const std::string& index, const std::string& remote,
               const std::string& mp) override {
    gate.Arrive();
    return FakeMounter::Mount(index, remote, mp);
  }
  Gate gate;
};

std::string Option(const Mount& m, const std::string& prefix) {
  for (const std::string& o : m.options)
    if (o.rfind(prefix, 0) == 0) return o.substr(prefix.size());
  return "";
}

TEST(SnapshotterTest, OrdinaryChainsAreOverlays) {
  TempDir dir;
  FakeCatalog catalog;
  FakeMounter mounter;
  auto s = Snapshotter::Open(dir.path() + "/sn", dir.path() + "/mounts", &catalog, &mounter,
                             [] { return int64_t{42}; });
  ASSERT_TRUE(s.ok()) << s.status().message();
  auto first = (*s)->Prepare("extract-1 " + kA, "", {{kSnapshotRefLabel, kA}});
  ASSERT_TRUE(first.ok()) << first.status().message();
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].type, "bind");
  EXPECT_EQ((*first)[0].options, (std::vector<std::string>{"rw", "rbind"}));
  const std::string base_fs = (*first)[0].source;
  struct stat st;
  ASSERT_EQ(::stat(base_fs.c_str(), &st), 0);
  ASSERT_TRUE((*s)->Commit(kA, "extract-1 " + kA, {{kSnapshotRefLabel, kA}}).ok());
  ASSERT_TRUE(WriteFileAtomic(base_fs + "/file", std::string(10000, 'x')).ok());

  auto container = (*s)->Prepare("ctr", kA, {});
  ASSERT_TRUE(container.ok());
  ASSERT_EQ(container->size(), 1u);
  const Mount& m = (*container)[0];
  EXPECT_EQ(m.type, "overlay");
  EXPECT_EQ(Option(m, "lowerdir="), base_fs);
  EXPECT_FALSE(Option(m, "upperdir=").empty());
  EXPECT_FALSE(Option(m, "workdir=").empty());
  auto view = (*s)->View("v", kA, {});
  ASSERT_TRUE(view.ok());
  EXPECT_EQ((*view)[0].type, "bind");
  EXPECT_EQ((*view)[0].source, base_fs);
  EXPECT_EQ((*view)[0].options[0], "ro");

  auto usage = (*s)->GetUsage(kA);
  ASSERT_TRUE(usage.ok());
  EXPECT_EQ(usage->inodes, 2);
  EXPECT_GE(usage->size, 10000);
  auto info = (*s)->Stat("ctr");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->created_ns, 42);

  EXPECT_EQ((*s)->Remove(kA).code(), Code::kInvalidArgument);  // has children
  ASSERT_TRUE((*s)->Remove("ctr").ok());
  ASSERT_TRUE((*s)->Remove("v").ok());
  ASSERT_TRUE((*s)->Remove(kA).ok());
  EXPECT_NE(::stat(base_fs.c_str(), &st), 0);

  // A directory no record owns (a crash between the two steps) goes at Cleanup.
  ASSERT_EQ(::mkdir((dir.path() + "/sn/snapshots/999").c_str(), 0700), 0);
  ASSERT_TRUE((*s)->Cleanup().ok());
  EXPECT_NE(::stat((dir.path() + "/sn/snapshots/999").c_str(), &st), 0);
}

TEST(SnapshotterTest, RemoteLayersAreAlreadyThereAndMountedLazily) {
  TempDir dir;
  FakeCatalog catalog;
  catalog.images = {{"sha256:idx", "docker://r/x", "sha256:m", {kA, kChainAB}, true, ""}};
  FakeMounter mounter;
  const std::string root = dir.path() + "/sn";
  {
    auto s = Snapshotter::Open(root, dir.path() + "/mounts", &catalog, &mounter);
    ASSERT_TRUE(s.ok());
    const Labels pull = {{kSnapshotRefLabel, kA}, {kCriManifestLabel, "sha256:m"}};
    EXPECT_EQ((*s)->Prepare("extract-1 " + kA, "", pull).status().code(), Code::kAlreadyExists);
    EXPECT_EQ(mounter.Mounts(), 0);  // part of an image: nothing to mount
    Labels second = pull;
    second[kSnapshotRefLabel] = kChainAB;
    EXPECT_EQ((*s)->Prepare("extract-2 " + kChainAB, kA, second).status().code(),
              Code::kAlreadyExists);
    // containerd then finds the target by its label among committed snapshots.
    auto top = (*s)->Stat(kChainAB);
    ASSERT_TRUE(top.ok());
    EXPECT_EQ(top->kind, Kind::kCommitted);
    EXPECT_EQ(top->parent, kA);
    EXPECT_EQ(top->labels.at(kSnapshotRefLabel), kChainAB);
    // A second pull of the same layer: already exists, and nothing new.
    EXPECT_EQ((*s)->Prepare("extract-3 " + kA, "", pull).status().code(), Code::kAlreadyExists);
    // No one builds on part of an image.
    EXPECT_EQ((*s)->Prepare("on-part", kA, {}).status().code(), Code::kInvalidArgument);
  }  // (the snapshotter's end waits for the mount started ahead at the top layer)
  const std::string ahead = dir.path() + "/mounts/";
  ASSERT_EQ(mounter.mounted.size(), 1u);
  EXPECT_EQ(mounter.mounted.begin()->rfind(ahead, 0), 0u) << *mounter.mounted.begin();
  // After a restart: the container's rootfs is an overlay on the image mount.
  auto s = Snapshotter::Open(root, dir.path() + "/mounts", &catalog, &mounter);
  ASSERT_TRUE(s.ok());
  auto container = (*s)->Prepare("ctr", kChainAB, {});
  ASSERT_TRUE(container.ok()) << container.status().message();
  const std::string mp = (*s)->ImageMountPoint({"sha256:idx", "docker://r/x", 2, 2});
  EXPECT_EQ(Option((*container)[0], "lowerdir="), mp);
  EXPECT_EQ(mounter.mounted, std::set<std::string>{mp});
  auto usage = (*s)->GetUsage(kChainAB);
  ASSERT_TRUE(usage.ok());
  EXPECT_EQ(usage->size, 0);
  // Removing the last snapshot of the image leaves its mount to the daemon's keep-warm policy
  // (an `imgfs run` container may be using it).
  ASSERT_TRUE((*s)->Remove("ctr").ok());
  ASSERT_TRUE((*s)->Remove(kChainAB).ok());
  ASSERT_TRUE((*s)->Remove(kA).ok());
  EXPECT_EQ(mounter.mounted, std::set<std::string>{mp});

  // A catalog that cannot reach its registry fails the Prepare with its reason.
  catalog.error = Status::Unavailable("registry down");
  auto failed = (*s)->Prepare("extract-9 " + kA, "", {{kSnapshotRefLabel, kA}});
  EXPECT_EQ(failed.status().code(), Code::kUnavailable);
  auto left = (*s)->List();
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->empty());
}

TEST(SnapshotterTest, ASlowRegistryLookUpBlocksNoOtherCall) {
  TempDir dir;
  SlowCatalog catalog;
  catalog.images = {{"sha256:idx", "docker://r/x", "sha256:m", {kA, kChainAB}, true, ""}};
  FakeMounter mounter;
  auto s = Snapshotter::Open(dir.path() + "/sn", dir.path() + "/mounts", &catalog, &mounter);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->Prepare("other", "", {}).ok());  // no snapshot.ref: no look-up
  const Labels pull = {{kSnapshotRefLabel, kA}, {kCriManifestLabel, "sha256:m"}};
  std::thread remote([&] {
    EXPECT_EQ((*s)->Prepare("extract-1 " + kA, "", pull).status().code(), Code::kAlreadyExists);
  });
  catalog.gate.WaitArrived();
  // While the look-up waits: the other calls go on (they would deadlock here under one lock).
  EXPECT_TRUE((*s)->Stat("other").ok());
  ASSERT_TRUE((*s)->Commit("other-c", "other", {}).ok());
  auto list = (*s)->List();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1u);
  EXPECT_TRUE((*s)->Prepare("ordinary", "other-c", {}).ok());
  catalog.gate.Open();
  remote.join();
  auto top = (*s)->Stat(kA);
  ASSERT_TRUE(top.ok());
  EXPECT_TRUE(top->remote.has_value());
}

TEST(SnapshotterTest, ASlowImageMountBlocksNoOtherCallAndAFailedOneLeavesNothing) {
  TempDir dir;
  FakeCatalog catalog;
  catalog.images = {{"sha256:idx", "", "", {kA}, true, ""}};
  SlowMounter mounter;
  auto s = Snapshotter::Open(dir.path() + "/sn", dir.path() + "/mounts", &catalog, &mounter);
  ASSERT_TRUE(s.ok());
  // The pull of the image's top layer starts its mount ahead, which waits at the gate.
  EXPECT_EQ((*s)->Prepare("x " + kA, "", {{kSnapshotRefLabel, kA}}).status().code(),
            Code::kAlreadyExists);
  mounter.gate.WaitArrived();
  std::atomic<bool> prepared{false};
  std::thread container([&] {
    EXPECT_TRUE((*s)->Prepare("ctr", kA, {}).ok());
    prepared = true;
  });
  // The container's snapshot is recorded at once; its Prepare waits for the mount under way.
  while (!(*s)->Stat("ctr").ok()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_TRUE((*s)->Prepare("plain", "", {}).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(prepared);
  EXPECT_EQ(mounter.Mounts(), 0);  // no second mount of the same point beside the first
  mounter.gate.Open();
  container.join();
  // The mount ahead, then the container's own (which the real mounter finds done).
  EXPECT_EQ(mounter.Mounts(), 2);

  // A mount that fails: the Prepare fails with its reason, and no record or directory stays.
  class FailingMounter : public ImageMounter {
    Status Mount(const std::string&, const std::string&, const std::string&) override {
      return Status::Unavailable("index fetch failed");
    }
  } failing;
  auto t = Snapshotter::Open(dir.path() + "/sn2", dir.path() + "/mounts", &catalog, &failing);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)->Prepare("x " + kA, "", {{kSnapshotRefLabel, kA}}).status().code(),
            Code::kAlreadyExists);
  EXPECT_EQ((*t)->Prepare("ctr", kA, {}).status().code(), Code::kUnavailable);
  EXPECT_FALSE((*t)->Stat("ctr").ok());
  std::error_code ec;
  size_t dirs = 0;
  for ([[maybe_unused]] const auto& e :
       std::filesystem::directory_iterator(dir.path() + "/sn2/snapshots", ec))
    ++dirs;
  EXPECT_EQ(dirs, 0u);
}

TEST(SnapshotterTest, ListHonoursContainerdFilters) {
  TempDir dir;
  FakeCatalog catalog;
  FakeMounter mounter;
  auto s = Snapshotter::Open(dir.path() + "/sn", dir.path() + "/mounts", &catalog, &mounter);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->Prepare("a", "", {}).ok());
  ASSERT_TRUE((*s)->Commit("A", "a", {{"containerd.io/gc.root", "x"}}).ok());
  ASSERT_TRUE((*s)->Prepare("b", "A", {{"team", "red"}}).ok());
  ASSERT_TRUE((*s)->View("v", "A", {}).ok());
  auto names = [&](std::vector<std::string> filters) {
    std::vector<std::string> out;
    auto list = (*s)->List(filters);
    EXPECT_TRUE(list.ok()) << list.status().message();
    if (list.ok())
      for (const SnapshotInfo& i : *list) out.push_back(i.name);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names({}), (V{"A", "b", "v"}));
  EXPECT_EQ(names({"parent==A"}), (V{"b", "v"}));
  EXPECT_EQ(names({"kind==committed"}), (V{"A"}));
  EXPECT_EQ(names({"parent==A,kind==view"}), (V{"v"}));             // all of
  EXPECT_EQ(names({"kind==committed", "name==v"}), (V{"A", "v"}));  // any of
  EXPECT_EQ(names({"labels.\"containerd.io/gc.root\""}), (V{"A"}));
  EXPECT_EQ(names({"labels.team==red"}), (V{"b"}));
  EXPECT_EQ(names({"labels.team!=red"}), (V{"A", "v"}));  // absent is not equal
  EXPECT_EQ(names({"name~=^[ab]$"}), (V{"b"}));
  EXPECT_EQ(names({"name~=/^(A|v)$/"}), (V{"A", "v"}));
  EXPECT_EQ(names({"parent"}), (V{"A", "b", "v"}));  // always present, as containerd's
  EXPECT_EQ(names({"name==\"b\""}), (V{"b"}));
  for (const char* bad : {"kind==", "==x", "name=x", "labels.\"open", "name~=[", "a b"}) {
    auto list = (*s)->List({bad});
    EXPECT_EQ(list.status().code(), Code::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace imgfs::snapshotter
