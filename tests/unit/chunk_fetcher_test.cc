#include "imgfs/daemon/chunk_fetcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <future>
#include <thread>

#include "core/chunk_codec.h"
#include "core/clock.h"
#include "tests/unit/daemon_test_util.h"

namespace imgfs {
namespace {

using testing::FakeRemote;
using testing::ImageBuilder;
using testing::LyingIndex;
using testing::NoiseBytes;
using testing::RangeRequest;
using testing::ScratchDir;
using testing::TextBytes;

constexpr size_t kChunk = 4096;

bool SameRange(const RangeRequest& r, const Digest& blob, uint64_t offset, uint64_t length) {
  return r.blob == blob && r.offset == offset && r.length == length;
}

class ChunkFetcherTest : public ::testing::Test {
 protected:
  void SetUp() override { OpenStore(); }

  void OpenStore() {
    auto s = store::LocalStore::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }

  // Pack 0: chunks 0-5, alternately incompressible (stored raw) and compressible (stored
  // zstd). Pack 1: chunks 6-8, incompressible. All in one file.
  void BuildMixedImage() {
    std::vector<uint32_t> all;
    for (int i = 0; i < 6; ++i)
      all.push_back(builder_.AddChunk(i % 2 ? TextBytes(kChunk, i) : NoiseBytes(kChunk, i)));
    builder_.StartPack();
    for (int i = 6; i < 9; ++i) all.push_back(builder_.AddChunk(NoiseBytes(kChunk, i)));
    builder_.AddFile(0, "f", all);
    index_ = builder_.Finish(&remote_);
    ASSERT_NE(index_, nullptr);
  }

  // `n` incompressible chunks of kChunk bytes (stored raw, kChunk stored bytes each), one pack.
  void BuildUniformImage(int n) {
    std::vector<uint32_t> all;
    for (int i = 0; i < n; ++i) all.push_back(builder_.AddChunk(NoiseBytes(kChunk, 100 + i)));
    builder_.AddFile(0, "f", all);
    index_ = builder_.Finish(&remote_);
    ASSERT_NE(index_, nullptr);
  }

  std::unique_ptr<daemon::ChunkFetcher> MakeFetcher(daemon::FetcherOptions options = {}) {
    return std::make_unique<daemon::ChunkFetcher>(*store_, options, clock_);
  }

  ChunkRecord Rec(uint32_t chunk) const { return index_->Chunk(chunk); }
  Digest PackOf(uint32_t chunk) const { return index_->Pack(Rec(chunk).pack).digest; }

  // Pins chunk `c` in the local store, as a conversion would.
  void Pin(uint32_t c) {
    ASSERT_TRUE(store_->PutChunk(Rec(c).digest, Rec(c).length, builder_.stored(c)).ok());
  }

  // Gets chunk `c` and checks its bytes.
  void ExpectGet(daemon::ChunkFetcher& fetcher, uint32_t c, remote::RemoteStore* remote) {
    auto got = fetcher.Get(*index_, c, remote, metrics_);
    ASSERT_TRUE(got.ok()) << "chunk " << c << ": " << got.status().ToString();
    EXPECT_TRUE(**got == builder_.raw(c)) << "chunk " << c;
  }

  bool HasAny(uint32_t c) {
    auto r = store_->HasAnyChunk(Rec(c).digest);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() && *r;
  }

  uint64_t ListedCachedBytes() {
    auto list = store_->ListCachedChunks();
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    uint64_t total = 0;
    if (list.ok())
      for (const auto& c : *list) total += c.stored_length;
    return total;
  }

  ScratchDir dir_;
  FakeClock clock_;
  std::unique_ptr<store::LocalStore> store_;
  FakeRemote remote_;
  ImageBuilder builder_;
  std::shared_ptr<const ImageIndex> index_;
  daemon::Metrics metrics_;
};

// --- Get: the three tiers ---

TEST_F(ChunkFetcherTest, MissingChunkIsFetchedVerifiedAndCachedUnpinned) {
  BuildMixedImage();
  auto fetcher = MakeFetcher();
  for (uint32_t c : {0u, 1u}) {  // one stored raw, one compressed
    ExpectGet(*fetcher, c, &remote_);
    EXPECT_FALSE(*store_->HasChunk(Rec(c).digest)) << "a fetched chunk must not be pinned";
    EXPECT_TRUE(HasAny(c));
    auto stored = store_->GetStoredChunk(Rec(c).digest);
    ASSERT_TRUE(stored.ok());
    EXPECT_EQ(*stored, builder_.stored(c));
  }
  EXPECT_EQ(metrics_.cache_misses, 2u);
  EXPECT_EQ(metrics_.fetch_requests, 2u);
  EXPECT_EQ(metrics_.cache_hits, 0u);
  EXPECT_EQ(metrics_.bytes_fetched, Rec(0).stored_length + Rec(1).stored_length);
  ASSERT_EQ(remote_.range_calls(), 2);
  EXPECT_TRUE(SameRange(remote_.ranges()[0], PackOf(0), Rec(0).pack_offset, Rec(0).stored_length));
  EXPECT_TRUE(SameRange(remote_.ranges()[1], PackOf(1), Rec(1).pack_offset, Rec(1).stored_length));

  auto cached = store_->ListCachedChunks();
  ASSERT_TRUE(cached.ok());
  ASSERT_EQ(cached->size(), 2u);
  for (const auto& c : *cached) EXPECT_TRUE(c.digest == Rec(0).digest || c.digest == Rec(1).digest);
  EXPECT_EQ(fetcher->cache_metrics().cached_bytes, Rec(0).stored_length + Rec(1).stored_length);
}

TEST_F(ChunkFetcherTest, SecondGetIsServedFromMemory) {
  BuildMixedImage();
  auto fetcher = MakeFetcher();
  ExpectGet(*fetcher, 3, &remote_);
  ExpectGet(*fetcher, 3, &remote_);
  EXPECT_EQ(metrics_.memory_hits, 1u);
  EXPECT_EQ(metrics_.cache_misses, 1u);
  EXPECT_EQ(remote_.range_calls(), 1);
}

TEST_F(ChunkFetcherTest, LocalChunkIsACacheHitAndNeverTouchesTheRemote) {
  BuildMixedImage();
  Pin(1);
  auto fetcher = MakeFetcher();
  ExpectGet(*fetcher, 1, &remote_);
  EXPECT_EQ(metrics_.cache_hits, 1u);
  EXPECT_EQ(metrics_.cache_misses, 0u);
  EXPECT_EQ(remote_.calls(), 0);

  // Also without any remote, from a fresh fetcher (empty memory).
  auto local_only = MakeFetcher();
  daemon::Metrics m;
  auto got = local_only->Get(*index_, 1, nullptr, m);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(**got == builder_.raw(1));
  EXPECT_EQ(m.cache_hits, 1u);
}

TEST_F(ChunkFetcherTest, MissingChunkWithoutRemoteIsNotFound) {
  BuildMixedImage();
  auto fetcher = MakeFetcher();
  auto got = fetcher->Get(*index_, 0, nullptr, metrics_);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kNotFound) << got.status().ToString();
  EXPECT_FALSE(HasAny(0));
  // Nothing is remembered: once a remote is given the chunk is fetched.
  ExpectGet(*fetcher, 0, &remote_);
}

// --- Single flight ---

TEST_F(ChunkFetcherTest, ConcurrentGetsOfOneMissingChunkCauseOneFetch) {
  BuildMixedImage();
  auto fetcher = MakeFetcher();
  remote_.Hold();  // the fetch waits until every thread has asked for the chunk
  constexpr int kThreads = 16;
  std::vector<Result<daemon::ChunkBytes>> results(kThreads, Status::Internal("not run"));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] { results[t] = fetcher->Get(*index_, 1, &remote_, metrics_); });
  remote_.WaitForHeld();
  while (fetcher->ReadersOf(Rec(1).digest) < kThreads) std::this_thread::yield();
  remote_.Release();
  for (auto& t : threads) t.join();
  EXPECT_EQ(remote_.range_calls(), 1);
  EXPECT_EQ(metrics_.cache_misses, 1u);
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_TRUE(results[t].ok()) << "thread " << t << ": " << results[t].status().ToString();
    EXPECT_EQ(**results[t], builder_.raw(1)) << "thread " << t;
  }
}

TEST_F(ChunkFetcherTest, GetWaitsForTheChunkAnEnsureIsFetching) {
  BuildMixedImage();
  auto fetcher = MakeFetcher();
  remote_.Hold();
  daemon::Metrics ensure_metrics;
  std::thread ensure([&] { fetcher->Ensure(*index_, {0, 1, 2}, &remote_, ensure_metrics); });
  remote_.WaitForHeld();  // Ensure has claimed its chunks and is fetching them
  std::thread get([&] { ExpectGet(*fetcher, 1, &remote_); });
  while (fetcher->ReadersOf(Rec(1).digest) == 0) std::this_thread::yield();  // it waits
  remote_.Release();
  get.join();
  ensure.join();
  EXPECT_EQ(remote_.range_calls(), 1) << "the Get must join the Ensure's fetch, not start one";
  EXPECT_EQ(metrics_.cache_misses, 0u);
  EXPECT_EQ(metrics_.memory_hits, 0u) << "the Get joined the fetch, it did not come after it";
}

// --- Ensure: coalescing ---

TEST_F(ChunkFetcherTest, EnsureFetchesContiguousChunksInOneRange) {
  BuildMixedImage();
  auto fetcher = MakeFetcher();
  fetcher->Ensure(*index_, {0, 1, 2, 3}, &remote_, metrics_);
  uint64_t length = 0;
  for (uint32_t c = 0; c < 4; ++c) length += Rec(c).stored_length;
  ASSERT_EQ(remote_.range_calls(), 1);
  EXPECT_TRUE(SameRange(remote_.ranges()[0], PackOf(0), 0, length))
      << "offset " << remote_.ranges()[0].offset << " length " << remote_.ranges()[0].length
      << ", want 0 and " << length;
  EXPECT_EQ(metrics_.cache_misses, 4u);
  EXPECT_EQ(metrics_.fetch_requests, 1u);
  EXPECT_EQ(metrics_.bytes_fetched, length);
  for (uint32_t c = 0; c < 4; ++c) {
    EXPECT_TRUE(HasAny(c));
    ExpectGet(*fetcher, c, &remote_);
  }
  EXPECT_EQ(remote_.range_calls(), 1);
  EXPECT_FALSE(HasAny(4)) << "nothing beyond what was asked for is fetched";
}

TEST_F(ChunkFetcherTest, AChunkIsStoredAndServedBeforeTheRestOfItsRangeHasCome) {
  BuildMixedImage();
  auto fetcher = MakeFetcher();
  bool checked = false;
  // The range of chunks 0-2 arrives as chunk 0 and one byte of chunk 1, then the rest.
  remote_.SplitStreams(Rec(0).stored_length + 1, [&] {
    checked = true;
    EXPECT_TRUE(HasAny(0)) << "chunk 0 waited for the rest of its range";
    EXPECT_FALSE(HasAny(1));
    if (!HasAny(0)) return;  // a Get would wait for this very fetch
    daemon::Metrics reader;
    auto got = fetcher->Get(*index_, 0, &remote_, reader);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_TRUE(**got == builder_.raw(0));
    EXPECT_EQ(reader.memory_hits, 1u);
  });
  fetcher->Ensure(*index_, {0, 1, 2}, &remote_, metrics_);
  EXPECT_TRUE(checked);
  EXPECT_EQ(remote_.range_calls(), 1);
  for (uint32_t c = 0; c < 3; ++c) ExpectGet(*fetcher, c, &remote_);
  EXPECT_EQ(remote_.range_calls(), 1);
}

TEST_F(ChunkFetcherTest, EnsureIgnoresOrderAndDuplicates) {
  BuildMixedImage();
  auto fetcher = MakeFetcher();
  fetcher->Ensure(*index_, {3, 1, 2, 1, 0, 3}, &remote_, metrics_);
  uint64_t length = 0;
  for (uint32_t c = 0; c < 4; ++c) length += Rec(c).stored_length;
  ASSERT_EQ(remote_.range_calls(), 1);
  EXPECT_TRUE(SameRange(remote_.ranges()[0], PackOf(0), 0, length));
  for (uint32_t c = 0; c < 4; ++c) ExpectGet(*fetcher, c, &remote_);
  EXPECT_EQ(remote_.range_calls(), 1);
}

TEST_F(ChunkFetcherTest, EnsureFetchesOneRangePerContiguousRun) {
  BuildMixedImage();
  auto fetcher = MakeFetcher();
  // Runs: 0-1 in pack 0; 3 (2 is a gap); 5 (4 is a gap; 6 follows in the chunk table but
  // starts pack 1); 6-7 in pack 1.
  fetcher->Ensure(*index_, {0, 1, 3, 5, 6, 7}, &remote_, metrics_);
  auto ranges = remote_.ranges();
  ASSERT_EQ(ranges.size(), 4u);
  auto covers = [&](uint32_t first, uint32_t last) {
    uint64_t len = Rec(last).pack_offset + Rec(last).stored_length - Rec(first).pack_offset;
    return std::any_of(ranges.begin(), ranges.end(), [&](const RangeRequest& r) {
      return SameRange(r, PackOf(first), Rec(first).pack_offset, len);
    });
  };
  EXPECT_TRUE(covers(0, 1));
  EXPECT_TRUE(covers(3, 3));
  EXPECT_TRUE(covers(5, 5));
  EXPECT_TRUE(covers(6, 7));
  for (uint32_t c : {2u, 4u, 8u}) EXPECT_FALSE(HasAny(c)) << "chunk " << c << " not asked for";
  for (uint32_t c : {0u, 1u, 3u, 5u, 6u, 7u}) ExpectGet(*fetcher, c, &remote_);
  EXPECT_EQ(remote_.range_calls(), 4);
}

TEST_F(ChunkFetcherTest, EnsureSkipsChunksAlreadyLocal) {
  BuildMixedImage();
  auto fetcher = MakeFetcher();
  Pin(1);                            // pinned by a conversion
  ExpectGet(*fetcher, 2, &remote_);  // cached by an earlier fetch
  auto fresh = MakeFetcher();        // nothing in memory: only the store knows
  remote_.ResetCounters();
  fresh->Ensure(*index_, {0, 1, 2, 3}, &remote_, metrics_);
  auto ranges = remote_.ranges();
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_TRUE(SameRange(ranges[0], PackOf(0), Rec(0).pack_offset, Rec(0).stored_length));
  EXPECT_TRUE(SameRange(ranges[1], PackOf(3), Rec(3).pack_offset, Rec(3).stored_length));
  for (uint32_t c = 0; c < 4; ++c) ExpectGet(*fresh, c, &remote_);
  EXPECT_EQ(remote_.range_calls(), 2);
}

TEST_F(ChunkFetcherTest, EnsureSplitsRunsAtMaxRangeBytes) {
  BuildUniformImage(5);
  daemon::FetcherOptions options;
  options.max_range_bytes = 2 * kChunk + 100;
  auto fetcher = MakeFetcher(options);
  fetcher->Ensure(*index_, {0, 1, 2, 3, 4}, &remote_, metrics_);
  auto ranges = remote_.ranges();
  ASSERT_EQ(ranges.size(), 3u);
  EXPECT_TRUE(SameRange(ranges[0], PackOf(0), 0, 2 * kChunk));
  EXPECT_TRUE(SameRange(ranges[1], PackOf(0), 2 * kChunk, 2 * kChunk));
  EXPECT_TRUE(SameRange(ranges[2], PackOf(0), 4 * kChunk, kChunk));
  for (const auto& r : ranges) EXPECT_LE(r.length, options.max_range_bytes);
  for (uint32_t c = 0; c < 5; ++c) ExpectGet(*fetcher, c, &remote_);
  EXPECT_EQ(remote_.range_calls(), 3);
}

// --- Verification ---

TEST_F(ChunkFetcherTest, WrongBytesOnceAreRefetchedAndThenServed) {
  BuildMixedImage();
  auto fetcher = MakeFetcher();
  for (uint32_t c : {0u, 1u}) {  // raw and compressed
    remote_.InjectWrongByte(PackOf(c), Rec(c).pack_offset + Rec(c).stored_length / 2, 1);
    ExpectGet(*fetcher, c, &remote_);
    auto stored = store_->GetStoredChunk(Rec(c).digest);
    ASSERT_TRUE(stored.ok());
    EXPECT_EQ(*stored, builder_.stored(c)) << "only verified bytes are committed";
  }
  EXPECT_EQ(metrics_.verify_failures, 2u);
  EXPECT_EQ(remote_.range_calls(), 4);
  EXPECT_EQ(metrics_.fetch_requests, 4u);
  EXPECT_EQ(metrics_.retries[static_cast<size_t>(remote::RetryCause::kBadAnswer)], 2u);
}

TEST_F(ChunkFetcherTest, WrongBytesInACoalescedRangeRefetchOnlyThatChunk) {
  BuildMixedImage();
  auto fetcher = MakeFetcher();
  remote_.InjectWrongByte(PackOf(1), Rec(1).pack_offset + 3, 1);
  fetcher->Ensure(*index_, {0, 1, 2}, &remote_, metrics_);
  auto ranges = remote_.ranges();
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_TRUE(SameRange(ranges[1], PackOf(1), Rec(1).pack_offset, Rec(1).stored_length));
  EXPECT_EQ(metrics_.verify_failures, 1u);
  for (uint32_t c = 0; c < 3; ++c) ExpectGet(*fetcher, c, &remote_);
  EXPECT_EQ(remote_.range_calls(), 2);
}

TEST_F(ChunkFetcherTest, AlwaysWrongBytesAreCorruptionAndNeverCommitted) {
  BuildMixedImage();
  auto fetcher = MakeFetcher();
  for (uint32_t c : {0u, 1u}) {
    remote_.InjectWrongByte(PackOf(c), Rec(c).pack_offset + 1, -1);
    auto got = fetcher->Get(*index_, c, &remote_, metrics_);
    ASSERT_FALSE(got.ok()) << "chunk " << c << " served unverified bytes";
    EXPECT_EQ(got.status().code(), Code::kCorruption) << got.status().ToString();
    EXPECT_FALSE(got.status().retryable());
    EXPECT_FALSE(HasAny(c));
  }
  // Each chunk: the first try and two refetches.
  EXPECT_EQ(metrics_.verify_failures, 2u * daemon::ChunkFetcher::kVerifyAttempts);
  EXPECT_EQ(remote_.range_calls(), 2 * daemon::ChunkFetcher::kVerifyAttempts);
  EXPECT_EQ(ListedCachedBytes(), 0u);
  EXPECT_EQ(fetcher->cache_metrics().cached_bytes, 0u);
  // Not remembered as good: a later Get tries again and fails again.
  EXPECT_FALSE(fetcher->Get(*index_, 0, &remote_, metrics_).ok());
}

TEST_F(ChunkFetcherTest, AlwaysWrongChunkInARangeFailsAloneTheOthersAreServed) {
  BuildMixedImage();
  auto fetcher = MakeFetcher();
  remote_.InjectWrongByte(PackOf(1), Rec(1).pack_offset, -1);
  fetcher->Ensure(*index_, {0, 1, 2}, &remote_, metrics_);
  auto bad = fetcher->Get(*index_, 1, &remote_, metrics_);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kCorruption);
  EXPECT_FALSE(HasAny(1));
  ExpectGet(*fetcher, 0, &remote_);
  ExpectGet(*fetcher, 2, &remote_);
}

// --- Remote failures ---

TEST_F(ChunkFetcherTest, UnavailableRemoteIsAnErrorNotAHangAndCachedChunksAreStillServed) {
  BuildMixedImage();
  auto fetcher = MakeFetcher();
  ExpectGet(*fetcher, 0, &remote_);
  remote_.SetUnavailable(true);

  auto pending =
      std::async(std::launch::async, [&] { return fetcher->Get(*index_, 1, &remote_, metrics_); });
  ASSERT_EQ(pending.wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "Get hangs on an unavailable remote";
  auto got = pending.get();
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kUnavailable) << got.status().ToString();
  EXPECT_TRUE(got.status().retryable());
  EXPECT_GE(metrics_.fetch_errors, 1u);
  EXPECT_FALSE(HasAny(1));

  // Ensure during the outage leaves the errors to Get, which reports them promptly.
  auto ensured = std::async(std::launch::async, [&] {
    fetcher->Ensure(*index_, {2, 3, 4}, &remote_, metrics_);
    return fetcher->Get(*index_, 3, &remote_, metrics_);
  });
  ASSERT_EQ(ensured.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(ensured.get().status().code(), Code::kUnavailable);

  // The cached chunk: from memory, and from the store for a fetcher with empty memory.
  ExpectGet(*fetcher, 0, &remote_);
  auto fresh = MakeFetcher();
  daemon::Metrics m;
  auto local = fresh->Get(*index_, 0, &remote_, m);
  ASSERT_TRUE(local.ok()) << local.status().ToString();
  EXPECT_EQ(**local, builder_.raw(0));
  EXPECT_EQ(m.cache_hits, 1u);

  // A failure is remembered for unavailable_hold (the kernel retries a failed read at once):
  // within it the chunk fails without asking the remote; after it the chunk comes.
  remote_.SetUnavailable(false);
  remote_.ResetCounters();
  EXPECT_EQ(fetcher->Get(*index_, 1, &remote_, metrics_).status().code(), Code::kUnavailable);
  EXPECT_EQ(remote_.range_calls(), 0);
  clock_.Advance(daemon::FetcherOptions{}.unavailable_hold);
  ExpectGet(*fetcher, 1, &remote_);
  ExpectGet(*fetcher, 3, &remote_);
}

// --- Deadlines: a hanging remote ---

// The remote hangs: every range request takes the remote's whole bound (41 s with retries) and
// fails. One request over chunks of two packs (two runs for Ensure, then a Get per chunk) waits
// for one such call, not one per run or per chunk; the kernel's retry of it waits for none.
TEST_F(ChunkFetcherTest, AHangingRemoteCostsARequestOneRemoteCall) {
  BuildMixedImage();
  auto fetcher = MakeFetcher();
  remote_.SetHang(&clock_, std::chrono::seconds(41));
  const Clock::time_point start = clock_.Now();
  daemon::RequestBudget budget = fetcher->NewRequestBudget();
  fetcher->Ensure(*index_, {4, 5, 6, 7}, &remote_, metrics_, budget);
  for (uint32_t c : {4u, 5u, 6u, 7u}) {
    auto got = fetcher->Get(*index_, c, &remote_, metrics_, budget);
    EXPECT_EQ(got.status().code(), Code::kUnavailable) << "chunk " << c;
  }
  EXPECT_EQ(remote_.range_calls(), 1);
  EXPECT_EQ(clock_.Now() - start, std::chrono::seconds(41));

  daemon::RequestBudget retry = fetcher->NewRequestBudget();  // the kernel's retry: a new request
  fetcher->Ensure(*index_, {4, 5, 6, 7}, &remote_, metrics_, retry);
  for (uint32_t c : {4u, 5u, 6u, 7u})
    EXPECT_EQ(fetcher->Get(*index_, c, &remote_, metrics_, retry).status().code(),
              Code::kUnavailable);
  EXPECT_EQ(remote_.range_calls(), 1);
  EXPECT_EQ(clock_.Now() - start, std::chrono::seconds(41));

  remote_.SetHang(nullptr, {});  // the remote is back; once the hold is over, chunks come
  clock_.Advance(daemon::FetcherOptions{}.unavailable_hold);
  daemon::RequestBudget later = fetcher->NewRequestBudget();
  fetcher->Ensure(*index_, {4, 5, 6, 7}, &remote_, metrics_, later);
  for (uint32_t c : {4u, 5u, 6u, 7u}) {
    auto got = fetcher->Get(*index_, c, &remote_, metrics_, later);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(**got, builder_.raw(c));
  }
}

// The hold spares the remote only: a chunk that is local by then (a conversion pinned it) is
// served at once.
TEST_F(ChunkFetcherTest, AHeldFailureDoesNotHideAChunkThatIsLocalNow) {
  BuildMixedImage();
  auto fetcher = MakeFetcher();
  remote_.SetUnavailable(true);
  EXPECT_EQ(fetcher->Get(*index_, 1, &remote_, metrics_).status().code(), Code::kUnavailable);
  EXPECT_EQ(fetcher->Get(*index_, 1, &remote_, metrics_).status().code(), Code::kUnavailable);
  EXPECT_EQ(remote_.range_calls(), 1) << "the second Get waited on the remote again";
  Pin(1);
  ExpectGet(*fetcher, 1, &remote_);
  EXPECT_EQ(remote_.range_calls(), 1);
}

TEST_F(ChunkFetcherTest, NoRemoteFetchStartsAfterTheRequestsDeadline) {
  BuildMixedImage();
  daemon::FetcherOptions options;
  auto fetcher = MakeFetcher(options);
  daemon::RequestBudget budget = fetcher->NewRequestBudget();
  clock_.Advance(options.request_deadline);
  fetcher->Ensure(*index_, {0, 1, 2}, &remote_, metrics_, budget);
  auto got = fetcher->Get(*index_, 1, &remote_, metrics_, budget);
  EXPECT_EQ(got.status().code(), Code::kUnavailable) << got.status().ToString();
  EXPECT_EQ(remote_.range_calls(), 0);
  // A deadline is the request's own: the next request fetches (nothing was held).
  daemon::RequestBudget next = fetcher->NewRequestBudget();
  auto again = fetcher->Get(*index_, 1, &remote_, metrics_, next);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(**again, builder_.raw(1));
}

// --- A hostile index: a chunk's identity is its digest and its length ---

// An index naming chunks this store holds (pinned raw, pinned compressed, cached) with another
// length: its reads fail (InvalidArgument, EIO for the reader), nothing is deleted or fetched,
// and the image that names the chunks rightly still reads them, from memory and the store.
TEST_F(ChunkFetcherTest, ALengthMismatchIsThisImagesErrorAndNeverDeletesTheChunk) {
  BuildMixedImage();
  Pin(0);  // stored raw
  Pin(1);  // stored compressed
  auto fetcher = MakeFetcher();
  ExpectGet(*fetcher, 2, &remote_);  // fetched: cached, and decoded in memory
  remote_.ResetCounters();
  auto lie_about_all = [&] {
    for (uint32_t c : {0u, 1u, 2u}) {
      for (uint32_t lie : {Rec(c).length - 1, Rec(c).length + 1, Rec(c).length * 2}) {
        auto hostile = LyingIndex(Rec(c).digest, lie, &remote_);
        ASSERT_NE(hostile, nullptr);
        daemon::Metrics m;
        auto got = fetcher->Get(*hostile, 0, &remote_, m);
        ASSERT_FALSE(got.ok()) << "chunk " << c << " read as " << lie << " bytes";
        EXPECT_EQ(got.status().code(), Code::kInvalidArgument) << got.status().ToString();
        EXPECT_EQ(m.local_corruptions, 0u);
        EXPECT_TRUE(HasAny(c)) << "chunk " << c << " was deleted";
      }
    }
  };
  lie_about_all();  // 0 and 1 from the store, 2 from memory
  for (uint32_t c : {0u, 1u, 2u}) ExpectGet(*fetcher, c, &remote_);
  lie_about_all();  // 1 and 2 from memory now
  EXPECT_EQ(remote_.range_calls(), 0) << "a lie needs no fetch to be found out";
  EXPECT_TRUE(*store_->HasChunk(Rec(0).digest)) << "still pinned";
  EXPECT_TRUE(*store_->HasChunk(Rec(1).digest)) << "still pinned";
  auto fresh = MakeFetcher();  // empty memory: every chunk from the store
  daemon::Metrics m;
  for (uint32_t c : {0u, 1u, 2u}) {
    auto got = fresh->Get(*index_, c, nullptr, m);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(**got, builder_.raw(c));
  }
  EXPECT_EQ(m.cache_hits, 3u);
}

// A hostile index's request for a missing chunk (with a wrong length) must not become the fetch
// an honest request of the same digest waits for: they are different chunks.
TEST_F(ChunkFetcherTest, AHostileRequestNeverLeadsAnHonestOnesFetch) {
  BuildMixedImage();
  auto fetcher = MakeFetcher();
  auto hostile = LyingIndex(Rec(3).digest, Rec(3).length + 1, &remote_);
  ASSERT_NE(hostile, nullptr);
  remote_.Hold();
  daemon::Metrics hostile_metrics;
  Result<daemon::ChunkBytes> lied = Status::Internal("not run");
  std::thread liar([&] { lied = fetcher->Get(*hostile, 0, &remote_, hostile_metrics); });
  remote_.WaitForHeld(1);  // the hostile request leads a fetch
  std::thread honest([&] { ExpectGet(*fetcher, 3, &remote_); });
  remote_.WaitForHeld(2);  // the honest one fetches on its own, it did not join
  remote_.Release();
  honest.join();
  liar.join();
  ASSERT_FALSE(lied.ok());
  EXPECT_EQ(lied.status().code(), Code::kCorruption) << lied.status().ToString();
  ExpectGet(*fetcher, 3, &remote_);
}

// --- Eviction ---

TEST_F(ChunkFetcherTest, EvictionKeepsCachedBytesUnderTheCapAndSparesPinnedChunks) {
  BuildUniformImage(9);
  Pin(8);
  daemon::FetcherOptions options;
  options.cache_size = 3 * kChunk;
  options.memory_cache_bytes = 1;  // keep (almost) nothing decoded: re-Gets go to the store
  auto fetcher = MakeFetcher(options);
  ExpectGet(*fetcher, 8, &remote_);  // the pinned chunk is read, and so "used"
  for (uint32_t c = 0; c < 8; ++c) {
    ExpectGet(*fetcher, c, &remote_);
    EXPECT_LE(fetcher->cache_metrics().cached_bytes, options.cache_size) << "after chunk " << c;
    EXPECT_LE(ListedCachedBytes(), options.cache_size) << "after chunk " << c;
  }
  const auto& cm = fetcher->cache_metrics();
  EXPECT_EQ(cm.evictions, 5u);
  EXPECT_EQ(cm.bytes_evicted, 5 * kChunk);
  EXPECT_EQ(cm.cached_bytes, 3 * kChunk);
  for (uint32_t c = 0; c < 5; ++c) EXPECT_FALSE(HasAny(c)) << "chunk " << c << " not evicted";
  for (uint32_t c = 5; c < 8; ++c) EXPECT_TRUE(HasAny(c)) << "chunk " << c << " evicted too early";
  EXPECT_TRUE(*store_->HasChunk(Rec(8).digest)) << "a pinned chunk was evicted";

  // An evicted chunk comes back from the remote, correct, and the cap still holds.
  remote_.ResetCounters();
  ExpectGet(*fetcher, 0, &remote_);
  EXPECT_EQ(remote_.range_calls(), 1);
  EXPECT_TRUE(HasAny(0));
  EXPECT_LE(fetcher->cache_metrics().cached_bytes, options.cache_size);
  EXPECT_LE(ListedCachedBytes(), options.cache_size);
  EXPECT_TRUE(*store_->HasChunk(Rec(8).digest));
}

TEST_F(ChunkFetcherTest, ReadingAChunkMakesItRecentlyUsed) {
  BuildUniformImage(5);
  daemon::FetcherOptions options;
  options.cache_size = 3 * kChunk;
  options.memory_cache_bytes = 1;
  auto fetcher = MakeFetcher(options);
  for (uint32_t c = 0; c < 3; ++c) ExpectGet(*fetcher, c, &remote_);
  ExpectGet(*fetcher, 1, &remote_);  // memory holds only chunk 2: a store hit, touching chunk 1
  ExpectGet(*fetcher, 0, &remote_);  // and chunk 0
  ExpectGet(*fetcher, 3, &remote_);  // evicts the least recently used: chunk 2
  EXPECT_TRUE(HasAny(0));
  EXPECT_TRUE(HasAny(1));
  EXPECT_FALSE(HasAny(2));
  EXPECT_TRUE(HasAny(3));
}

TEST_F(ChunkFetcherTest, ShrinkingTheCacheEvictsAtOnce) {
  BuildUniformImage(4);
  auto fetcher = MakeFetcher();  // no limit
  for (uint32_t c = 0; c < 4; ++c) ExpectGet(*fetcher, c, &remote_);
  EXPECT_EQ(fetcher->cache_metrics().evictions, 0u);
  fetcher->SetCacheSize(kChunk);
  EXPECT_EQ(fetcher->cache_metrics().evictions, 3u);
  EXPECT_EQ(ListedCachedBytes(), kChunk);
  EXPECT_TRUE(HasAny(3)) << "the most recently used chunk is kept";
}

TEST_F(ChunkFetcherTest, CacheStateSurvivesARestart) {
  BuildUniformImage(6);
  {
    auto fetcher = MakeFetcher();  // no limit
    for (uint32_t c = 0; c < 6; ++c) ExpectGet(*fetcher, c, &remote_);
  }
  store_.reset();
  OpenStore();
  ASSERT_EQ(ListedCachedBytes(), 6 * kChunk) << "cached chunks must survive a reopen";

  daemon::FetcherOptions options;
  options.cache_size = 2 * kChunk;
  auto fetcher = MakeFetcher(options);
  ASSERT_TRUE(fetcher->LoadCacheState().ok());
  EXPECT_EQ(fetcher->cache_metrics().evictions, 4u);
  EXPECT_EQ(fetcher->cache_metrics().cached_bytes, 2 * kChunk);
  EXPECT_EQ(ListedCachedBytes(), 2 * kChunk);

  // Every chunk still reads correctly (from the store or refetched), within the cap.
  for (uint32_t c = 0; c < 6; ++c) {
    ExpectGet(*fetcher, c, &remote_);
    EXPECT_LE(ListedCachedBytes(), 2 * kChunk) << "after chunk " << c;
  }
}

TEST_F(ChunkFetcherTest, PinningACachedChunkKeepsItAndDoesNotCountAsAnEviction) {
  BuildUniformImage(3);
  daemon::FetcherOptions options;
  options.cache_size = 2 * kChunk;
  options.memory_cache_bytes = 1;
  auto fetcher = MakeFetcher(options);
  ExpectGet(*fetcher, 0, &remote_);
  Pin(0);  // a conversion re-stores the cached chunk as pinned
  ExpectGet(*fetcher, 1, &remote_);
  ExpectGet(*fetcher, 2, &remote_);  // over the cap: chunk 0 is the oldest
  EXPECT_TRUE(*store_->HasChunk(Rec(0).digest)) << "a pinned chunk was evicted";
  EXPECT_TRUE(HasAny(1));
  EXPECT_TRUE(HasAny(2));
  // Nothing left the store, so no eviction happened.
  EXPECT_EQ(fetcher->cache_metrics().bytes_evicted, 0u);
  EXPECT_EQ(fetcher->cache_metrics().evictions, 0u);
}

// --- Local corruption ---

TEST_F(ChunkFetcherTest, LocalCopyThatDoesNotDecompressIsDroppedAndRefetched) {
  BuildMixedImage();
  // Chunk 1 is compressible: a valid zstd frame of the wrong length; chunk 0: not zstd at all;
  // chunk 2: longer than the chunk itself.
  std::string short_text = TextBytes(kChunk / 2, 77);
  ASSERT_TRUE(store_
                  ->PutCachedChunk(Rec(1).digest, Rec(1).length,
                                   EncodeChunk({reinterpret_cast<const uint8_t*>(short_text.data()),
                                                short_text.size()}))
                  .ok());
  ASSERT_TRUE(store_->PutCachedChunk(Rec(0).digest, Rec(0).length, "definitely not zstd").ok());
  ASSERT_TRUE(
      store_->PutCachedChunk(Rec(2).digest, Rec(2).length, std::string(kChunk + 1, 'x')).ok());
  auto fetcher = MakeFetcher();
  ASSERT_TRUE(fetcher->LoadCacheState().ok());
  for (uint32_t c : {0u, 1u, 2u}) {
    ExpectGet(*fetcher, c, &remote_);
    auto stored = store_->GetStoredChunk(Rec(c).digest);
    ASSERT_TRUE(stored.ok()) << stored.status().ToString();
    EXPECT_EQ(*stored, builder_.stored(c)) << "chunk " << c << ": the corrupt copy was kept";
  }
  EXPECT_EQ(metrics_.local_corruptions, 3u);
  EXPECT_EQ(metrics_.cache_hits, 0u);
  EXPECT_EQ(remote_.range_calls(), 3);
  uint64_t want = Rec(0).stored_length + Rec(1).stored_length + Rec(2).stored_length;
  EXPECT_EQ(fetcher->cache_metrics().cached_bytes, want);
  EXPECT_EQ(ListedCachedBytes(), want);
}

TEST_F(ChunkFetcherTest, ABitFlipInALocalDataFileIsDetectedAndRefetched) {
  // One incompressible chunk large enough for the data files.
  builder_.AddFile(0, "f", {builder_.AddChunk(NoiseBytes(20000, 5))});
  index_ = builder_.Finish(&remote_);
  ASSERT_NE(index_, nullptr);
  ExpectGet(*MakeFetcher(), 0, &remote_);  // now cached on disk
  {                                        // it is the first chunk of the first data file
    std::fstream f(dir_.path() + "/data/00000001.dat",
                   std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.is_open());
    f.seekp(10);
    f.put(static_cast<char>(~builder_.raw(0)[10]));
  }
  auto fetcher = MakeFetcher();  // nothing in memory: the read goes to the store
  ExpectGet(*fetcher, 0, &remote_);
  EXPECT_EQ(metrics_.local_corruptions, 1u);
  EXPECT_EQ(remote_.range_calls(), 2);
  auto stored = store_->GetStoredChunk(Rec(0).digest);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_TRUE(*stored == builder_.stored(0));
}

TEST_F(ChunkFetcherTest, CorruptLocalCopyWithoutRemoteIsCorruptionAndDropped) {
  BuildMixedImage();
  ASSERT_TRUE(store_->PutCachedChunk(Rec(1).digest, Rec(1).length, "garbage").ok());
  auto fetcher = MakeFetcher();
  auto got = fetcher->Get(*index_, 1, nullptr, metrics_);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kCorruption) << got.status().ToString();
  EXPECT_EQ(metrics_.local_corruptions, 1u);
  EXPECT_FALSE(HasAny(1));
}

}  // namespace
}  // namespace imgfs
