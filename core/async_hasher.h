// SHA-256 of two byte streams (a layer's compressed and its uncompressed bytes) computed on a
// thread of their own, so the thread producing them (decompressing a layer) does not also pay
// for hashing them. The streams are hashed in lockstep while both have bytes waiting
// (Sha256Lane: two streams on one core cost little more than one). No copies: UpdateView()
// queues the caller's bytes, and the caller keeps them unchanged until WaitHashed() of the
// ticket it got says they are done. Pieces of a stream are hashed in the order given.
// One producer thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <thread>

#include "core/digest.h"
#include "core/sha256_batch.h"

namespace imgfs {

class AsyncSha256Pair {
 public:
  AsyncSha256Pair();
  ~AsyncSha256Pair();
  AsyncSha256Pair(const AsyncSha256Pair&) = delete;
  AsyncSha256Pair& operator=(const AsyncSha256Pair&) = delete;

  // Queues [data, data + len) of `stream` (0 or 1) and returns its ticket. REQUIRES: the bytes
  // stay unchanged until WaitHashed(stream, ticket) has returned (or Finish(stream)).
  uint64_t UpdateView(int stream, const void* data, size_t len);
  // Blocks until the piece with this ticket, and every piece of the stream before it, is
  // hashed. Ticket 0 (nothing queued) returns at once.
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
