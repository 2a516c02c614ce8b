// The ContentWriter of a conversion: cuts each file into content-defined chunks on the calling
// thread, then hashes, deduplicates, compresses and stores them on a worker pool, so layer
// decompression and chunk work overlap.
// File bytes are copied once, into slabs: 4 MiB buffers recycled through a pool, which a large
// file's segment fills alone and many small files share, so the conversion does not allocate
// (nor fault in fresh pages) per file; a new slab's pages are faulted in by one call. A slab goes
// back to the pool when its last segment is done.
//
// Thread-safety: AddFile and Finish are called from one thread (the conversion's), never
// concurrently; the pool threads touch only a segment's own buffers and the members marked
// GUARDED_BY(mu_). stats() and new_chunks() may be called from any thread; they are complete once
// Finish has returned.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/chunk_store.h"
#include "core/chunker.h"
#include "core/thread_pool.h"
#include "indexer/content_writer.h"

namespace imgfs::indexer {

struct ChunkingStats {
  uint64_t file_bytes = 0;        // bytes passed to AddFile
  uint64_t chunks = 0;            // chunks cut (with repeats)
  uint64_t new_chunks = 0;        // chunks the store did not have
  uint64_t new_raw_bytes = 0;     // their uncompressed bytes
  uint64_t new_stored_bytes = 0;  // their stored bytes
};

class ChunkingWriter : public ContentWriter {
 public:
  ChunkingWriter(ChunkStore& store, const ChunkerParams& params, unsigned threads);
  ~ChunkingWriter() override;

  Result<std::shared_ptr<FileContent>> AddFile(ByteSource& src, uint64_t size) override;
  Status Finish() override;
  ChunkingStats stats() const;
  // The chunks this writer added to the store (it did not have them before).
  std::vector<Digest> new_chunks() const;
  // Their stored lengths, so that laying out packs need not ask the store for each.
  std::unordered_map<Digest, uint32_t, DigestHash> new_stored_lengths() const;

 private:
  struct SlabPool;
  struct Slab;
  struct Segment;
  void SubmitPending();
  // The chunks of a batch of segments: their digests all at once (Sha256Batch pairs them up),
  // then each segment's chunks deduplicated, compressed and stored.
  void ProcessBatch(const std::vector<std::shared_ptr<Segment>>& batch);
  // REQUIRES: digests[i] is the SHA-256 of the segment's chunk i.
  void ProcessSegment(Segment& seg, std::span<const Digest> digests);
  // Room for `size` bytes (at most a slab): the rest of the open slab, or a new one. Sets
  // seg.slab and seg.data.
  void PlaceSegment(Segment& seg, size_t size);
  void RecordError(const Status& s);

  ChunkStore& store_;
  const ChunkerParams params_;
  ThreadPool pool_;

  // Segments not yet submitted (small files are batched into one task).
  std::vector<std::shared_ptr<Segment>> pending_;
  uint64_t pending_bytes_ = 0;
  std::vector<uint8_t> carry_;  // the uncut tail of the segment before, reused between files
  std::shared_ptr<SlabPool> slab_pool_;  // shared with the slabs, which return to it
  std::shared_ptr<Slab> open_slab_;      // where the next segment goes if it fits
  size_t open_used_ = 0;                 // bytes of open_slab_ handed out
  // Every segment of every file, to assemble chunk lists in Finish().
  std::vector<std::pair<std::shared_ptr<FileContent>, std::vector<std::shared_ptr<Segment>>>>
      files_;

  mutable std::mutex mu_;
  std::condition_variable room_cv_;                                      // in-flight bytes dropped
  uint64_t inflight_bytes_ = 0;                                          // GUARDED_BY(mu_)
  std::unordered_set<Digest, DigestHash> seen_;                          // GUARDED_BY(mu_)
  std::vector<Digest> new_chunks_;                                       // GUARDED_BY(mu_)
  std::unordered_map<Digest, uint32_t, DigestHash> new_stored_lengths_;  // GUARDED_BY(mu_)
  Status error_;                                                         // GUARDED_BY(mu_)
  ChunkingStats stats_;                                                  // GUARDED_BY(mu_)
};

}  // namespace imgfs::indexer
