// The tiered read path for chunks: decoded chunks in memory, then the local store, then the
// remote store. Shared by every mount of a daemon, so images share one cache.
//
// - Identity: a chunk is its digest and its length. A record whose length disagrees with the
//   chunk the daemon holds (a hostile or broken index) is that image's error (EIO for its
//   read); it never touches the chunk other images use. Every path (memory, local, fetched)
//   checks the length before handing bytes out.
// - Single-flight: concurrent requests for one missing chunk (digest and length) cause one
//   fetch; the others wait for its result.
// - Coalescing: Ensure() fetches the missing chunks of one request (a read's chunks, a run of a
//   trace) grouped into runs that are contiguous in a pack, one range request per run of up to
//   max_range_bytes. Nothing beyond what was asked for is fetched. A range streams: each chunk
//   is verified, stored and handed to its waiters as soon as its bytes are in.
// - Verification: every fetched chunk's SHA-256 is checked before it is used or committed; a
//   chunk that fails is fetched again on its own (kVerifyAttempts fetches in all, each refetch
//   counted as a bad_answer retry), then reported as Corruption (EIO). Local copies are guarded
//   by the store's XXH3 checksum; a corrupt one is dropped and refetched.
// - A verified chunk the local store cannot take (a full disk) is served from memory and
//   counted (cache_write_failures); the read does not fail.
// - Deadlines: a request's remote fetches share one RequestBudget (chunk_reader.h). A chunk
//   whose fetch failed as unavailable is not fetched again for unavailable_hold (it fails at
//   once unless it is local by then), so the kernel's immediate retry of a failed read does not
//   wait on the remote a second time.
// - Eviction: cached (fetched) chunks are kept under cache_size stored bytes, least recently
//   used first; a chunk some request is reading at that moment is never evicted. Pinned chunks
//   (from local conversions) are never evicted.
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/clock.h"
#include "core/image_index.h"
#include "core/shared_bytes.h"
#include "core/thread_pool.h"
#include "imgfs/daemon/chunk_reader.h"
#include "imgfs/daemon/metrics.h"
#include "imgfs/local_store.h"
#include "imgfs/remote_store.h"

namespace imgfs::daemon {

struct FetcherOptions {
  uint64_t cache_size = 0;                  // stored bytes of cached chunks; 0 = no limit
  uint64_t max_range_bytes = 4u << 20;      // one coalesced range request
  uint64_t memory_cache_bytes = 64u << 20;  // decoded chunks kept in memory
  // No remote fetch starts for a FUSE request after this long (the remote's own bound for one
  // call, retries included, is about 41 s with the default RemoteOptions).
  std::chrono::milliseconds request_deadline{40000};
  // A chunk whose fetch failed as unavailable fails at once for this long.
  std::chrono::milliseconds unavailable_hold{5000};
};

class ChunkFetcher : public ChunkReader {
 public:
  // Fetches of one chunk before a digest mismatch is final: a remote that flips bits now and
  // then costs a refetch, one that always serves wrong bytes an EIO after three requests.
  static constexpr int kVerifyAttempts = 3;

  // `clock` must outlive the fetcher.
  ChunkFetcher(store::LocalStore& store, const FetcherOptions& options,
               Clock& clock = Clock::Real());
  ~ChunkFetcher() override;

  // Loads the list of cached chunks so eviction knows them after a restart, oldest first by
  // the order they were stored in.
  Status LoadCacheState();
  // Forgets what eviction knew and loads it again (after a garbage collection).
  Status ReloadCacheState();
  void SetCacheSize(uint64_t bytes);

  // ChunkReader. Get: the uncompressed bytes of chunk number `chunk` of `index`. `remote` may
  // be null (local only). Counts into `metrics` (the mount's) and the fetcher's own cache
  // metrics. InvalidArgument when the index gives the chunk a length other than its own.
  RequestBudget NewRequestBudget() override;
  Result<ChunkBytes> Get(const ImageIndex& index, uint32_t chunk, remote::RemoteStore* remote,
                         Metrics& metrics, RequestBudget& budget) override;
  // Makes sure the given chunks of `index` are local or in memory, fetching the missing ones in
  // as few range requests as contiguity allows. Errors are left for Get() to report per chunk.
  void Ensure(const ImageIndex& index, const std::vector<uint32_t>& chunks,
              remote::RemoteStore* remote, Metrics& metrics, RequestBudget& budget) override;
  // Read-ahead of chunks in the local store, on background threads: the kernel starts reading
  // their bytes, and compressed ones are decoded into memory. Never touches the remote. Dropped
  // when too much read-ahead is already queued.
  void WarmLocal(std::shared_ptr<const ImageIndex> index, std::vector<uint32_t> chunks) override;

  // The same, each call a request of its own with no deadline.
  Result<ChunkBytes> Get(const ImageIndex& index, uint32_t chunk, remote::RemoteStore* remote,
                         Metrics& metrics);
  void Ensure(const ImageIndex& index, const std::vector<uint32_t>& chunks,
              remote::RemoteStore* remote, Metrics& metrics);

  const Metrics& cache_metrics() const { return cache_metrics_; }
  // How many requests are reading or waiting for chunk `digest` right now (for tests).
  int ReadersOf(const Digest& digest);

 private:
  struct Flight;
  // A chunk as a record names it: single-flight and failures are per (digest, length), so a
  // record with a wrong length never shares another's fetch or its result.
  struct ChunkKey {
    Digest digest;
    uint32_t length = 0;
    bool operator==(const ChunkKey&) const = default;
  };
  struct ChunkKeyHash {
    size_t operator()(const ChunkKey& k) const { return DigestHash()(k.digest) ^ k.length; }
  };
  struct Failure {
    Clock::time_point until;
    Status status;
  };
  struct LruEntry {
    std::list<Digest>::iterator pos;
    uint64_t size;
  };

  static ChunkKey KeyOf(const ChunkRecord& r) { return {r.digest, r.length}; }
  Result<ChunkBytes> LoadLocal(const ImageIndex& index, uint32_t chunk, Metrics& metrics,
                               bool* corrupt);
  // Fetches chunks [first, last] of one pack, which this thread has claimed.
  void FetchRange(const ImageIndex& index, uint32_t first, uint32_t last,
                  remote::RemoteStore& remote, Metrics& metrics, RequestBudget& budget);
  // Verifies a fetched chunk's stored bytes, then stores it and keeps it in memory. Corruption
  // (counted and logged; `again`: a refetch follows) when it fails its digest.
  Result<ChunkBytes> Commit(const ImageIndex& index, uint32_t chunk, remote::RemoteStore& remote,
                            Metrics& metrics, std::string_view stored, bool again);
  // Fetches a chunk that failed verification on its own, up to kVerifyAttempts fetches in all.
  Result<ChunkBytes> Refetch(const ImageIndex& index, uint32_t chunk, remote::RemoteStore& remote,
                             Metrics& metrics, RequestBudget& budget);
  // The failure a recent fetch of `key` met, while it is held (unavailable_hold); else OK.
  Status HeldFailure(const ChunkKey& key);
  // A remote failure: remembered for the request, and for the chunks when retryable.
  void RemoteFailed(const std::vector<ChunkKey>& keys, const Status& s, RequestBudget& budget);
  void Complete(const ChunkKey& key, const Result<ChunkBytes>& result);
  void Remember(const Digest& digest, const ChunkBytes& bytes);
  void TrackCached(const Digest& digest, uint64_t stored_size);
  void Touch(const Digest& digest);
  void EvictIfNeeded();

  store::LocalStore& store_;
  FetcherOptions options_;
  Clock& clock_;
  Metrics cache_metrics_;

  std::mutex mu_;  // guards everything below; never held across I/O
  std::unordered_map<ChunkKey, std::shared_ptr<Flight>, ChunkKeyHash> in_flight_;
  // Chunks whose last fetch failed as unavailable, until when they fail at once.
  std::unordered_map<ChunkKey, Failure, ChunkKeyHash> failed_;
  std::unordered_map<Digest, int, DigestHash> readers_;  // requests using a chunk right now
  // Evictable cached chunks, most recently used at the front.
  std::list<Digest> lru_;
  std::unordered_map<Digest, LruEntry, DigestHash> lru_index_;
  uint64_t cached_bytes_ = 0;
  // Decoded chunks, most recently used at the front.
  std::list<std::pair<Digest, ChunkBytes>> memory_;
  std::unordered_map<Digest, std::list<std::pair<Digest, ChunkBytes>>::iterator, DigestHash>
      memory_index_;
  uint64_t memory_bytes_ = 0;

  std::atomic<int> warm_queued_{0};
  ThreadPool warm_pool_{2};  // last member: its workers stop before the rest is destroyed
};

}  // namespace imgfs::daemon
