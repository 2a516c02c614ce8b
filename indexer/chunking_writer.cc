#include "indexer/chunking_writer.h"

#include <sys/mman.h>

#include <cstring>

#include "core/chunk_codec.h"
#include "core/sha256_batch.h"

namespace imgfs::indexer {
namespace {

constexpr size_t kSlabSize = 4u << 20;      // bytes read per step of a large file
constexpr uint64_t kBatchBytes = 1u << 20;  // small files are grouped up to this size
// Bytes cut but not yet stored. 16 MiB keeps two workers fed (16 batches) while the reading
// thread runs ahead; every slab beyond what this needs is 4 MiB of fresh pages faulted in (64
// MiB cost ~12k page allocations more per conversion, ~0.03 CPU-s, for no speed).
constexpr uint64_t kMaxInflightBytes = 16u << 20;
// Slabs kept for reuse: enough for every byte in flight plus the open slab.
constexpr size_t kMaxSpareSlabs = kMaxInflightBytes / kSlabSize + 2;

// The memory of a slab, its pages faulted in by one call rather than one fault each.
class SlabMemory {
 public:
  SlabMemory() {
    void* p = ::mmap(nullptr, kSlabSize, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    bytes_ = static_cast<uint8_t*>(p);
  }
  ~SlabMemory() { ::munmap(bytes_, kSlabSize); }
  SlabMemory(const SlabMemory&) = delete;
  SlabMemory& operator=(const SlabMemory&) = delete;
  uint8_t* get() const { return bytes_; }

 private:
  uint8_t* bytes_;
};

}  // namespace

struct ChunkingWriter::SlabPool {
  std::mutex mu;
  std::vector<std::unique_ptr<SlabMemory>> spare;  // GUARDED_BY(mu)
};

// A buffer of kSlabSize bytes that returns to its pool when the last segment in it is done.
struct ChunkingWriter::Slab {
  std::unique_ptr<SlabMemory> bytes;
  std::shared_ptr<SlabPool> pool;

  explicit Slab(std::shared_ptr<SlabPool> p) : pool(std::move(p)) {
    {
      std::lock_guard<std::mutex> lock(pool->mu);
      if (!pool->spare.empty()) {
        bytes = std::move(pool->spare.back());
        pool->spare.pop_back();
      }
    }
    if (!bytes) bytes = std::make_unique<SlabMemory>();
  }
  ~Slab() {
    std::lock_guard<std::mutex> lock(pool->mu);
    if (pool->spare.size() < kMaxSpareSlabs) pool->spare.push_back(std::move(bytes));
  }
};

// Bytes of one file, cut into chunks, waiting for or done by a worker.
struct ChunkingWriter::Segment {
  std::shared_ptr<Slab> slab;  // holds `data`; dropped once the worker is done
  uint8_t* data = nullptr;
  size_t length = 0;
  std::vector<uint32_t> cuts;    // chunk lengths, in order
  std::vector<ChunkSpan> spans;  // filled by the worker
};

ChunkingWriter::ChunkingWriter(ChunkStore& store, const ChunkerParams& params, unsigned threads)
    : store_(store), params_(params), pool_(threads), slab_pool_(std::make_shared<SlabPool>()) {}

ChunkingWriter::~ChunkingWriter() { pool_.Wait(); }

void ChunkingWriter::PlaceSegment(Segment& seg, size_t size) {
  if (!open_slab_ || kSlabSize - open_used_ < size) {
    open_slab_ = std::make_shared<Slab>(slab_pool_);
    open_used_ = 0;
  }
  seg.slab = open_slab_;
  seg.data = open_slab_->bytes->get() + open_used_;
  open_used_ += size;
}

Result<std::shared_ptr<FileContent>> ChunkingWriter::AddFile(ByteSource& src, uint64_t size) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!error_.ok()) return error_;
    stats_.file_bytes += size;
  }
  auto content = std::make_shared<FileContent>();
  content->size = size;
  std::vector<std::shared_ptr<Segment>> segments;

  uint64_t remaining = size;
  size_t carry_len = 0;
  while (remaining > 0 || carry_len > 0) {
    auto seg = std::make_shared<Segment>();
    size_t want = static_cast<size_t>(std::min<uint64_t>(kSlabSize, carry_len + remaining));
    PlaceSegment(*seg, want);
    if (carry_len) std::memcpy(seg->data, carry_.data(), carry_len);
    size_t have = carry_len;
    while (have < want) {
      ASSIGN_OR_RETURN(size_t n, src.Read({seg->data + have, want - have}));
      if (n == 0)
        return Status::Corruption("file content ends after " + std::to_string(size - remaining) +
                                  " of " + std::to_string(size) + " bytes");
      have += n;
      remaining -= n;
    }
    const bool at_end = remaining == 0;
    size_t pos = 0;
    while (pos < have && (at_end || have - pos >= params_.max_size)) {
      size_t len = NextChunkLength({seg->data + pos, have - pos}, params_);
      seg->cuts.push_back(static_cast<uint32_t>(len));
      pos += len;
    }
    carry_len = have - pos;
    if (carry_len) carry_.assign(seg->data + pos, seg->data + have);
    // The uncut tail goes on in the next segment: its room here is the open slab's again.
    open_used_ -= want - pos;
    seg->length = pos;
    if (pos == 0) continue;

    {
      std::unique_lock<std::mutex> lock(mu_);
      room_cv_.wait(lock, [&] { return inflight_bytes_ < kMaxInflightBytes || !error_.ok(); });
      if (!error_.ok()) return error_;
      inflight_bytes_ += seg->length;
    }
    segments.push_back(seg);
    pending_.push_back(seg);
    pending_bytes_ += seg->length;
    if (pending_bytes_ >= kBatchBytes) SubmitPending();
  }
  files_.emplace_back(content, std::move(segments));
  return content;
}

void ChunkingWriter::SubmitPending() {
  if (pending_.empty()) return;
  pool_.Submit([this, batch = std::move(pending_)]() { ProcessBatch(batch); });
  pending_.clear();
  pending_bytes_ = 0;
}

void ChunkingWriter::ProcessBatch(const std::vector<std::shared_ptr<Segment>>& batch) {
  // Kept per worker thread, for the conversion's life.
  thread_local std::vector<std::span<const uint8_t>> raws;
  thread_local std::vector<Digest> digests;
  raws.clear();
  for (const auto& seg : batch) {
    size_t pos = 0;
    for (uint32_t len : seg->cuts) {
      raws.emplace_back(seg->data + pos, len);
      pos += len;
    }
  }
  digests.resize(raws.size());
  Sha256Batch(raws, digests);
  size_t first = 0;
  for (const auto& seg : batch) {
    ProcessSegment(*seg, std::span<const Digest>(digests).subspan(first, seg->cuts.size()));
    first += seg->cuts.size();
  }
}

void ChunkingWriter::ProcessSegment(Segment& seg, std::span<const Digest> digests) {
  // One compression buffer per worker thread, kept for the conversion's life.
  thread_local std::string scratch;
  ChunkingStats local;
  seg.spans.reserve(seg.cuts.size());
  size_t pos = 0;
  for (size_t i = 0; i < seg.cuts.size(); ++i) {
    const uint32_t len = seg.cuts[i];
    const std::span<const uint8_t> raw(seg.data + pos, len);
    pos += len;
    const Digest& digest = digests[i];
    seg.spans.push_back({digest, len});
    local.chunks++;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!seen_.insert(digest).second) continue;  // this conversion stores it already
    }
    auto has = store_.HasChunk(digest);
    Status s = has.status();
    if (s.ok() && !*has) {
      std::string_view stored = EncodeChunk(raw, &scratch);
      s = store_.PutChunk(digest, len, stored);
      if (s.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        new_chunks_.push_back(digest);
        new_stored_lengths_.emplace(digest, static_cast<uint32_t>(stored.size()));
      }
      local.new_chunks++;
      local.new_raw_bytes += len;
      local.new_stored_bytes += stored.size();
    }
    if (!s.ok()) {
      RecordError(s);
      break;
    }
  }
  seg.slab.reset();
  {
    std::lock_guard<std::mutex> lock(mu_);
    inflight_bytes_ -= seg.length;
    stats_.chunks += local.chunks;
    stats_.new_chunks += local.new_chunks;
    stats_.new_raw_bytes += local.new_raw_bytes;
    stats_.new_stored_bytes += local.new_stored_bytes;
  }
  room_cv_.notify_all();
}

void ChunkingWriter::RecordError(const Status& s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (error_.ok()) error_ = s;
}

Status ChunkingWriter::Finish() {
  SubmitPending();
  pool_.Wait();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!error_.ok()) return error_;
  }
  for (auto& [content, segments] : files_) {
    for (const auto& seg : segments)
      content->chunks.insert(content->chunks.end(), seg->spans.begin(), seg->spans.end());
  }
  files_.clear();
  return Status::Ok();
}

std::vector<Digest> ChunkingWriter::new_chunks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return new_chunks_;
}

std::unordered_map<Digest, uint32_t, DigestHash> ChunkingWriter::new_stored_lengths() const {
  std::lock_guard<std::mutex> lock(mu_);
  return new_stored_lengths_;
}

ChunkingStats ChunkingWriter::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace imgfs::indexer
