// SHA-256 of a byte stream computed on its own thread, so the thread producing the stream (say,
// decompressing a layer) does not also pay for hashing it. Pieces are hashed in the order given.
// Update() copies the bytes into a bounded queue (it blocks while 8 MiB are waiting), in buffers
// recycled from pieces already hashed; UpdateView() queues the caller's bytes without a copy,
// and the caller keeps them unchanged until WaitHashed() of the ticket it got says they are
// done. Finish() waits for the queue to drain.
// One producer thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/digest.h"
#include "core/sha256_batch.h"

namespace imgfs {

class AsyncSha256 {
 public:
  AsyncSha256();
  ~AsyncSha256();
  AsyncSha256(const AsyncSha256&) = delete;
  AsyncSha256& operator=(const AsyncSha256&) = delete;

  void Update(const void* data, size_t len);
  // The same for bytes the caller gives up: queued without a copy.
  void Update(std::string&& piece);
  // Queues [data, data + len) without a copy and returns its ticket. REQUIRES: the bytes stay
  // unchanged until WaitHashed(ticket) has returned (or Finish()).
  uint64_t UpdateView(const void* data, size_t len);
  // Blocks until the piece with this ticket, and every piece before it, is hashed. Ticket 0
  // (nothing queued) returns at once.
  void WaitHashed(uint64_t ticket);
  Digest Finish();

 private:
  struct Piece {
    std::string owned;  // the bytes, unless `view` is set
    const char* view = nullptr;
    size_t length = 0;
    uint64_t ticket = 0;
  };
  void Loop();
  void Enqueue(Piece piece, std::unique_lock<std::mutex>& lock);

  static constexpr size_t kMaxQueued = 8u << 20;
  static constexpr size_t kMaxSpare = 16;  // hashed pieces kept for reuse
  Sha256Hasher hasher_;                    // used by the worker only
  std::mutex mu_;
  std::condition_variable work_cv_, room_cv_;
  std::deque<Piece> queue_;         // GUARDED_BY(mu_)
  std::vector<std::string> spare_;  // GUARDED_BY(mu_): hashed pieces, their buffers reused
  size_t queued_bytes_ = 0;         // GUARDED_BY(mu_): copied bytes waiting
  uint64_t last_ticket_ = 0;        // GUARDED_BY(mu_): the ticket of the last piece queued
  uint64_t hashed_ticket_ = 0;      // GUARDED_BY(mu_): pieces up to this ticket are hashed
  bool stop_ = false;               // GUARDED_BY(mu_)
  std::thread worker_;              // last: started once everything above exists
};

// Two SHA-256 streams (a layer's compressed and its uncompressed bytes) hashed on one thread of
// their own, in lockstep while both have bytes waiting (Sha256Lane: two streams on one core cost
// little more than one). Views only: UpdateView and WaitHashed as in AsyncSha256, per stream.
// One producer thread.
class AsyncSha256Pair {
 public:
  AsyncSha256Pair();
  ~AsyncSha256Pair();
  AsyncSha256Pair(const AsyncSha256Pair&) = delete;
  AsyncSha256Pair& operator=(const AsyncSha256Pair&) = delete;

  // `stream` is 0 or 1. REQUIRES: the bytes stay unchanged until WaitHashed(stream, ticket).
  uint64_t UpdateView(int stream, const void* data, size_t len);
  void WaitHashed(int stream, uint64_t ticket);
  // The digest of the stream's bytes so far; the stream starts anew.
  Digest Finish(int stream);

 private:
  struct Piece {
    std::span<const uint8_t> bytes;
    uint64_t ticket = 0;
  };
  void Loop();

  Sha256Lane lanes_[2];  // used by the worker, and by Finish once a stream is drained
  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<Piece> queues_[2];     // GUARDED_BY(mu_)
  uint64_t last_ticket_[2] = {};    // GUARDED_BY(mu_)
  uint64_t hashed_ticket_[2] = {};  // GUARDED_BY(mu_)
  bool stop_ = false;               // GUARDED_BY(mu_)
  std::thread worker_;              // last: started once everything above exists
};

}  // namespace imgfs
