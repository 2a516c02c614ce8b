#include "indexer/chunking_writer.h"

#include <cstring>

#include "core/chunk_codec.h"

namespace imgfs::indexer {
namespace {

constexpr size_t kSegmentSize = 4u << 20;   // bytes read per step of a large file
constexpr uint64_t kBatchBytes = 1u << 20;  // small files are grouped up to this size
constexpr uint64_t kMaxInflightBytes = 64u << 20;
// Segments of this size or more get a whole kSegmentSize buffer from a pool: buffers that size
// are mmapped by malloc, and a fresh mapping costs a page fault per 4 KiB on first use.
constexpr size_t kPooledMin = 256u << 10;
constexpr size_t kMaxSpareBuffers = kMaxInflightBytes / kSegmentSize + 2;

}  // namespace

// Bytes of one file, cut into chunks, waiting for or done by a worker.
struct ChunkingWriter::Segment {
  std::unique_ptr<uint8_t[]> data;  // `capacity` bytes: pooled when kPooledMin or more
  size_t capacity = 0;
  size_t length = 0;
  std::vector<uint32_t> cuts;    // chunk lengths, in order
  std::vector<ChunkSpan> spans;  // filled by the worker
};

ChunkingWriter::ChunkingWriter(ChunkStore& store, const ChunkerParams& params, unsigned threads)
    : store_(store), params_(params), pool_(threads) {}

ChunkingWriter::~ChunkingWriter() { pool_.Wait(); }

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
    size_t want = static_cast<size_t>(std::min<uint64_t>(kSegmentSize, carry_len + remaining));
    seg->data = TakeBuffer(want);
    seg->capacity = want;
    if (carry_len) std::memcpy(seg->data.get(), carry_.data(), carry_len);
    size_t have = carry_len;
    while (have < want) {
      ASSIGN_OR_RETURN(size_t n, src.Read({seg->data.get() + have, want - have}));
      if (n == 0)
        return Status::Corruption("file content ends after " + std::to_string(size - remaining) +
                                  " of " + std::to_string(size) + " bytes");
      have += n;
      remaining -= n;
    }
    const bool at_end = remaining == 0;
    size_t pos = 0;
    while (pos < have && (at_end || have - pos >= params_.max_size)) {
      size_t len = NextChunkLength({seg->data.get() + pos, have - pos}, params_);
      seg->cuts.push_back(static_cast<uint32_t>(len));
      pos += len;
    }
    carry_len = have - pos;
    if (carry_len) carry_.assign(seg->data.get() + pos, seg->data.get() + have);
    seg->length = pos;
    if (pos == 0) {
      GiveBackBuffer(std::move(seg->data), seg->capacity);
      continue;
    }

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
  pool_.Submit([this, batch = std::move(pending_)]() {
    for (const auto& seg : batch) ProcessSegment(*seg);
  });
  pending_.clear();
  pending_bytes_ = 0;
}

std::unique_ptr<uint8_t[]> ChunkingWriter::TakeBuffer(size_t size) {
  if (size < kPooledMin) return std::unique_ptr<uint8_t[]>(new uint8_t[size]);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!spare_buffers_.empty()) {
      std::unique_ptr<uint8_t[]> b = std::move(spare_buffers_.back());
      spare_buffers_.pop_back();
      return b;
    }
  }
  return std::unique_ptr<uint8_t[]>(new uint8_t[kSegmentSize]);
}

void ChunkingWriter::GiveBackBuffer(std::unique_ptr<uint8_t[]> buffer, size_t size) {
  if (size < kPooledMin) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (spare_buffers_.size() < kMaxSpareBuffers) spare_buffers_.push_back(std::move(buffer));
}

void ChunkingWriter::ProcessSegment(Segment& seg) {
  // One compression buffer per worker thread, kept for the conversion's life.
  thread_local std::string scratch;
  ChunkingStats local;
  size_t pos = 0;
  seg.spans.reserve(seg.cuts.size());
  for (uint32_t len : seg.cuts) {
    std::span<const uint8_t> raw(seg.data.get() + pos, len);
    pos += len;
    Digest digest = Sha256(raw.data(), raw.size());
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
  GiveBackBuffer(std::move(seg.data), seg.capacity);
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

ChunkingStats ChunkingWriter::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace imgfs::indexer
