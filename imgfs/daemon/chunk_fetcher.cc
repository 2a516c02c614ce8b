#include "imgfs/daemon/chunk_fetcher.h"

#include <algorithm>
#include <condition_variable>
#include <tuple>
#include <vector>

#include "core/chunk_codec.h"
#include "core/log.h"

namespace imgfs::daemon {

struct ChunkFetcher::Flight {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  Result<ChunkBytes> result{Status::Internal("fetch pending")};
};

namespace {

Status LengthMismatch(const ChunkRecord& rec, size_t actual) {
  return Status::InvalidArgument("the image index gives chunk " + rec.digest.ToString() +
                                 " length " + std::to_string(rec.length) + "; it is " +
                                 std::to_string(actual) + " bytes");
}

}  // namespace

ChunkFetcher::ChunkFetcher(store::LocalStore& store, const FetcherOptions& options, Clock& clock)
    : store_(store), options_(options), clock_(clock) {}

ChunkFetcher::~ChunkFetcher() = default;

Status ChunkFetcher::LoadCacheState() {
  ASSIGN_OR_RETURN(auto cached, store_.ListCachedChunks());
  std::stable_sort(cached.begin(), cached.end(),
                   [](const auto& a, const auto& b) { return a.stored_order < b.stored_order; });
  for (const auto& c : cached) TrackCached(c.digest, c.stored_length);  // the last is the newest
  EvictIfNeeded();
  return Status::Ok();
}

Status ChunkFetcher::ReloadCacheState() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    lru_.clear();
    lru_index_.clear();
    cached_bytes_ = 0;
  }
  return LoadCacheState();
}

void ChunkFetcher::SetCacheSize(uint64_t bytes) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    options_.cache_size = bytes;
  }
  EvictIfNeeded();
}

RequestBudget ChunkFetcher::NewRequestBudget() {
  return RequestBudget(clock_.Now() + options_.request_deadline);
}

Result<ChunkBytes> ChunkFetcher::Get(const ImageIndex& index, uint32_t chunk,
                                     remote::RemoteStore* remote, Metrics& metrics) {
  RequestBudget budget;
  return Get(index, chunk, remote, metrics, budget);
}

void ChunkFetcher::Ensure(const ImageIndex& index, const std::vector<uint32_t>& chunks,
                          remote::RemoteStore* remote, Metrics& metrics) {
  RequestBudget budget;
  Ensure(index, chunks, remote, metrics, budget);
}

int ChunkFetcher::ReadersOf(const Digest& digest) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = readers_.find(digest);
  return it == readers_.end() ? 0 : it->second;
}

Result<ChunkBytes> ChunkFetcher::Get(const ImageIndex& index, uint32_t chunk,
                                     remote::RemoteStore* remote, Metrics& metrics,
                                     RequestBudget& budget) {
  const ChunkRecord rec = index.Chunk(chunk);
  const Digest& d = rec.digest;
  const ChunkKey key = KeyOf(rec);
  std::shared_ptr<Flight> flight;
  bool leader = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = memory_index_.find(d); it != memory_index_.end()) {
      const ChunkBytes& bytes = it->second->second;
      if (bytes->size() != rec.length) return LengthMismatch(rec, bytes->size());
      memory_.splice(memory_.begin(), memory_, it->second);
      metrics.memory_hits++;
      return bytes;
    }
    readers_[d]++;
    auto [it, inserted] = in_flight_.try_emplace(key);
    if (inserted) it->second = std::make_shared<Flight>();
    flight = it->second;
    leader = inserted;
  }
  struct ReaderGuard {
    ChunkFetcher* self;
    Digest d;
    ~ReaderGuard() {
      std::lock_guard<std::mutex> lock(self->mu_);
      if (auto it = self->readers_.find(d); it != self->readers_.end() && --it->second == 0)
        self->readers_.erase(it);
    }
  } guard{this, d};

  if (leader) {
    bool corrupt = false;
    Result<ChunkBytes> local = LoadLocal(index, chunk, metrics, &corrupt);
    if (local.ok() || (local.status().code() != Code::kNotFound && !corrupt)) {
      Complete(key, local);
    } else if (!remote) {
      Complete(key, corrupt ? local.status()
                            : Status::NotFound("chunk " + d.ToString() +
                                               " is not in the local store and no remote is set"));
    } else if (Status held = HeldFailure(key); !held.ok()) {
      Complete(key, held);  // the remote failed for this chunk a moment ago: no second wait
    } else {
      metrics.cache_misses++;
      FetchRange(index, chunk, chunk, *remote, metrics, budget);
    }
  }
  std::unique_lock<std::mutex> lock(flight->mu);
  flight->cv.wait(lock, [&] { return flight->done; });
  const Result<ChunkBytes>& result = flight->result;
  if (result.ok() && (*result)->size() != rec.length) return LengthMismatch(rec, (*result)->size());
  return result;
}

void ChunkFetcher::Ensure(const ImageIndex& index, const std::vector<uint32_t>& chunks,
                          remote::RemoteStore* remote, Metrics& metrics, RequestBudget& budget) {
  if (!remote || chunks.size() < 2) return;  // a single chunk gains nothing over Get()
  if (!budget.Check(clock_).ok()) return;
  std::vector<uint32_t> claimed;
  for (uint32_t c : chunks) {
    const ChunkKey key = KeyOf(index.Chunk(c));
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (memory_index_.count(key.digest) || in_flight_.count(key)) continue;
    }
    if (!HeldFailure(key).ok()) continue;  // Get reports it
    auto local = store_.HasAnyChunk(key.digest);
    if (!local.ok() || *local) continue;
    std::lock_guard<std::mutex> lock(mu_);
    if (!in_flight_.try_emplace(key, std::make_shared<Flight>()).second) continue;
    claimed.push_back(c);
  }
  std::sort(claimed.begin(), claimed.end(), [&](uint32_t a, uint32_t b) {
    ChunkRecord x = index.Chunk(a), y = index.Chunk(b);
    return std::tie(x.pack, x.pack_offset) < std::tie(y.pack, y.pack_offset);
  });
  claimed.erase(std::unique(claimed.begin(), claimed.end()), claimed.end());
  for (size_t i = 0; i < claimed.size();) {
    ChunkRecord first = index.Chunk(claimed[i]);
    uint64_t end = first.pack_offset + first.stored_length, total = first.stored_length;
    size_t j = i + 1;
    for (; j < claimed.size(); ++j) {
      ChunkRecord r = index.Chunk(claimed[j]);
      // Runs must be contiguous in the pack and in the chunk table (FetchRange walks the table).
      if (r.pack != first.pack || r.pack_offset != end || claimed[j] != claimed[j - 1] + 1 ||
          total + r.stored_length > options_.max_range_bytes)
        break;
      end += r.stored_length;
      total += r.stored_length;
    }
    metrics.cache_misses += j - i;
    FetchRange(index, claimed[i], claimed[j - 1], *remote, metrics, budget);
    i = j;
  }
}

void ChunkFetcher::WarmLocal(std::shared_ptr<const ImageIndex> index,
                             std::vector<uint32_t> chunks) {
  if (chunks.empty() || warm_queued_.load() > 16) return;
  warm_queued_++;
  warm_pool_.Submit([this, index = std::move(index), chunks = std::move(chunks)] {
    // Raw chunks are served from the page cache as they are: the kernel reads them ahead.
    // Compressed ones are read and decoded here.
    std::vector<Digest> raw;
    for (uint32_t c : chunks) {
      const ChunkRecord rec = index->Chunk(c);
      if (rec.stored_length == rec.length) raw.push_back(rec.digest);
    }
    store_.WillNeed(raw);
    for (uint32_t c : chunks) {
      const ChunkRecord rec = index->Chunk(c);
      if (rec.stored_length == rec.length) continue;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (memory_index_.count(rec.digest) || in_flight_.count(KeyOf(rec))) continue;
      }
      // No flight is claimed: a reader racing with read-ahead at worst decodes the chunk twice,
      // and a failed read-ahead leaves the chunk to the reader's own path (refetch, errors).
      auto stored = store_.ReadChunk(rec.digest, rec.length);
      if (!stored.ok()) continue;
      std::string decoded;
      if (!DecompressChunk(**stored, rec.length, &decoded).ok()) continue;
      Remember(rec.digest, SharedBytes(std::move(decoded)));
    }
    warm_queued_--;
  });
}

Result<ChunkBytes> ChunkFetcher::LoadLocal(const ImageIndex& index, uint32_t chunk,
                                           Metrics& metrics, bool* corrupt) {
  const ChunkRecord rec = index.Chunk(chunk);
  // A length other than the stored chunk's is this index's error (InvalidArgument), returned
  // as it is: the chunk stays for the images that name it rightly.
  auto stored = store_.ReadChunk(rec.digest, rec.length);
  Status s = stored.status();
  ChunkBytes bytes;
  if (s.ok() && (*stored)->size() == rec.length) {
    bytes = std::move(*stored);  // stored raw: served from the mapped store, no copy
  } else if (s.ok()) {
    std::string decoded;
    s = DecompressChunk(**stored, rec.length, &decoded);
    bytes = SharedBytes(std::move(decoded));
  }
  if (s.code() == Code::kCorruption) {
    IMGFS_LOG(Warning) << "dropping corrupt local copy of " << rec.digest.ToString() << ": "
                       << s.message();
    metrics.local_corruptions++;
    *corrupt = true;
    (void)store_.DeleteChunk(rec.digest);
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = lru_index_.find(rec.digest); it != lru_index_.end()) {
      cached_bytes_ -= it->second.size;
      lru_.erase(it->second.pos);
      lru_index_.erase(it);
      cache_metrics_.cached_bytes = cached_bytes_;
    }
    return Status::Corruption("chunk " + rec.digest.ToString() + ": local copy is corrupt");
  }
  if (!s.ok()) return s;
  metrics.cache_hits++;
  Touch(rec.digest);
  if (rec.stored_length != rec.length) Remember(rec.digest, bytes);
  return bytes;
}

void ChunkFetcher::FetchRange(const ImageIndex& index, uint32_t first, uint32_t last,
                              remote::RemoteStore& remote, Metrics& metrics,
                              RequestBudget& budget) {
  const ChunkRecord head = index.Chunk(first), tail = index.Chunk(last);
  const PackRecord pack = index.Pack(head.pack);
  const uint64_t start = head.pack_offset, length = tail.pack_offset + tail.stored_length - start;
  std::vector<ChunkKey> keys;
  for (uint32_t n = first; n <= last; ++n) keys.push_back(KeyOf(index.Chunk(n)));
  if (Status s = budget.Check(clock_); !s.ok()) {
    // The remote failed for this request already: these chunks would wait on it just the same.
    if (!budget.failure().ok()) RemoteFailed(keys, budget.failure(), budget);
    for (const ChunkKey& k : keys) Complete(k, s);
    return;
  }
  // Each chunk is verified, stored and handed to its waiters as soon as its bytes are in, while
  // the rest of the range is still on the way.
  std::string partial;  // the bytes of chunk `next` that came so far, when split across pieces
  uint32_t next = first;
  uint64_t received = 0;
  std::vector<uint32_t> unverified;  // failed verification: fetched again on their own below
  auto sink = [&](std::string_view piece) -> Status {
    received += piece.size();
    metrics.bytes_fetched += piece.size();
    while (!piece.empty() && next <= last) {
      const ChunkRecord r = index.Chunk(next);
      std::string_view stored;
      if (partial.empty() && piece.size() >= r.stored_length) {
        stored = piece.substr(0, r.stored_length);  // whole in this piece: no copy
        piece.remove_prefix(r.stored_length);
      } else {
        const size_t take = std::min<size_t>(r.stored_length - partial.size(), piece.size());
        partial.append(piece.data(), take);
        piece.remove_prefix(take);
        if (partial.size() < r.stored_length) break;
        stored = partial;
      }
      Result<ChunkBytes> bytes = Commit(index, next, remote, metrics, stored, /*again=*/true);
      if (bytes.ok()) {
        Complete(KeyOf(r), bytes);
      } else {
        unverified.push_back(next);
      }
      partial.clear();
      ++next;
    }
    return Status::Ok();
  };
  auto t0 = std::chrono::steady_clock::now();
  metrics.fetch_requests++;
  Status s = remote.StreamBlobRange(pack.digest, start, length, sink);
  metrics.ObserveFetch(std::chrono::steady_clock::now() - t0);
  if (s.ok() && received != length)
    s = Status::Corruption("the remote answered " + std::to_string(received) +
                           " bytes for a range of " + std::to_string(length));
  if (!s.ok()) {
    metrics.fetch_errors++;
    s = s.WithContext("fetch pack " + pack.digest.ToString() + " from " + remote.Describe());
    std::vector<ChunkKey> rest;
    for (uint32_t n = next; n <= last; ++n) rest.push_back(KeyOf(index.Chunk(n)));
    RemoteFailed(rest, s, budget);
    for (const ChunkKey& k : rest) Complete(k, s);
  }
  for (uint32_t n : unverified)
    Complete(KeyOf(index.Chunk(n)), Refetch(index, n, remote, metrics, budget));
}

Status ChunkFetcher::HeldFailure(const ChunkKey& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = failed_.find(key);
  if (it == failed_.end()) return Status::Ok();
  if (clock_.Now() < it->second.until) return it->second.status;
  failed_.erase(it);
  return Status::Ok();
}

void ChunkFetcher::RemoteFailed(const std::vector<ChunkKey>& keys, const Status& s,
                                RequestBudget& budget) {
  budget.RemoteFailed(s);
  if (!s.retryable() || options_.unavailable_hold.count() <= 0) return;
  const Clock::time_point until = clock_.Now() + options_.unavailable_hold;
  std::lock_guard<std::mutex> lock(mu_);
  if (failed_.size() > 4096) failed_.clear();  // a long outage over many chunks: start over
  for (const ChunkKey& k : keys) failed_[k] = {until, s};
}

Result<ChunkBytes> ChunkFetcher::Commit(const ImageIndex& index, uint32_t chunk,
                                        remote::RemoteStore& remote, Metrics& metrics,
                                        std::string_view stored, bool again) {
  const ChunkRecord r = index.Chunk(chunk);
  std::string decoded;
  if (Status s = DecodeChunk(stored, r.length, r.digest, &decoded); !s.ok()) {
    metrics.verify_failures++;
    IMGFS_LOG(Warning) << "chunk " << r.digest.ToString() << " from " << remote.Describe()
                       << " failed verification" << (again ? "; fetching it again" : "");
    return s;
  }
  if (Status s = store_.PutCachedChunk(r.digest, r.length, stored); !s.ok()) {
    // Served from memory all the same; counted, and logged once per outage-ish burst.
    uint64_t n = ++metrics.cache_write_failures;
    ++cache_metrics_.cache_write_failures;
    if ((n & (n - 1)) == 0)
      IMGFS_LOG(Warning) << "not caching " << r.digest.ToString() << " (" << n
                         << " chunk(s) so far on this mount): " << s.message();
  } else {
    TrackCached(r.digest, stored.size());
  }
  ChunkBytes bytes(std::move(decoded));
  Remember(r.digest, bytes);
  EvictIfNeeded();
  return bytes;
}

Result<ChunkBytes> ChunkFetcher::Refetch(const ImageIndex& index, uint32_t chunk,
                                         remote::RemoteStore& remote, Metrics& metrics,
                                         RequestBudget& budget) {
  const ChunkRecord r = index.Chunk(chunk);
  const PackRecord pack = index.Pack(r.pack);
  for (int attempt = 1; attempt < kVerifyAttempts; ++attempt) {
    metrics.CountRetry(remote::RetryCause::kBadAnswer);
    if (Status s = budget.Check(clock_); !s.ok())
      return s.WithContext("refetch chunk " + r.digest.ToString());
    auto t0 = std::chrono::steady_clock::now();
    metrics.fetch_requests++;
    auto again = remote.ReadBlobRange(pack.digest, r.pack_offset, r.stored_length);
    metrics.ObserveFetch(std::chrono::steady_clock::now() - t0);
    if (!again.ok()) {
      metrics.fetch_errors++;
      Status s = again.status().WithContext("refetch chunk " + r.digest.ToString());
      RemoteFailed({KeyOf(r)}, s, budget);
      return s;
    }
    metrics.bytes_fetched += again->size();
    Result<ChunkBytes> bytes =
        Commit(index, chunk, remote, metrics, *again, attempt + 1 < kVerifyAttempts);
    if (bytes.ok()) return bytes;
  }
  return Status::Corruption("chunk " + r.digest.ToString() + " from " + remote.Describe() +
                            " failed verification " + std::to_string(kVerifyAttempts) + " times");
}

void ChunkFetcher::Complete(const ChunkKey& key, const Result<ChunkBytes>& result) {
  std::shared_ptr<Flight> flight;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = in_flight_.find(key);
    if (it == in_flight_.end()) return;
    flight = std::move(it->second);
    in_flight_.erase(it);
  }
  {
    std::lock_guard<std::mutex> lock(flight->mu);
    flight->result = result;
    flight->done = true;
  }
  flight->cv.notify_all();
}

void ChunkFetcher::Remember(const Digest& digest, const ChunkBytes& bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (memory_index_.count(digest)) return;
  memory_.emplace_front(digest, bytes);
  memory_index_[digest] = memory_.begin();
  memory_bytes_ += bytes->size();
  while (memory_bytes_ > options_.memory_cache_bytes && memory_.size() > 1) {
    memory_bytes_ -= memory_.back().second->size();
    memory_index_.erase(memory_.back().first);
    memory_.pop_back();
  }
}

void ChunkFetcher::TrackCached(const Digest& digest, uint64_t stored_size) {
  std::lock_guard<std::mutex> lock(mu_);
  if (lru_index_.count(digest)) return;
  lru_.push_front(digest);
  lru_index_[digest] = {lru_.begin(), stored_size};
  cached_bytes_ += stored_size;
  cache_metrics_.cached_bytes = cached_bytes_;
}

void ChunkFetcher::Touch(const Digest& digest) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = lru_index_.find(digest); it != lru_index_.end())
    lru_.splice(lru_.begin(), lru_, it->second.pos);
}

void ChunkFetcher::EvictIfNeeded() {
  std::vector<Digest> victims;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (options_.cache_size == 0) return;
    auto flying = [&](const Digest& d) {  // few flights at a time: a scan is cheap
      for (const auto& [key, flight] : in_flight_)
        if (key.digest == d) return true;
      return false;
    };
    for (auto it = lru_.end(); cached_bytes_ > options_.cache_size && it != lru_.begin();) {
      --it;
      if (readers_.count(*it) || flying(*it)) continue;  // being read: keep
      auto entry = lru_index_.find(*it);
      cached_bytes_ -= entry->second.size;
      victims.push_back(*it);
      lru_index_.erase(entry);
      it = lru_.erase(it);
    }
    cache_metrics_.cached_bytes = cached_bytes_;
  }
  for (const Digest& v : victims) {
    auto freed = store_.EvictChunk(v);
    if (!freed.ok()) {
      IMGFS_LOG(Warning) << "evict " << v.ToString() << ": " << freed.status().message();
      continue;
    }
    if (*freed == 0) continue;  // pinned meanwhile (a conversion stored it): not evicted
    cache_metrics_.evictions++;
    cache_metrics_.bytes_evicted += *freed;
  }
}

}  // namespace imgfs::daemon
