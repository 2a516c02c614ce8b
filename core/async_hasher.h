// SHA-256 of a byte stream computed on its own thread, so the thread producing the stream (say,
// decompressing a layer) does not also pay for hashing it. Update() copies the bytes into a
// bounded queue (it blocks while 8 MiB are waiting), in buffers recycled from pieces already
// hashed; Finish() waits for the queue to drain.
// One producer thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/digest.h"

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
  Digest Finish();

 private:
  void Loop();

  static constexpr size_t kMaxQueued = 8u << 20;
  static constexpr size_t kMaxSpare = 16;  // hashed pieces kept for reuse
  Sha256Hasher hasher_;                    // used by the worker only
  std::mutex mu_;
  std::condition_variable work_cv_, room_cv_;
  std::deque<std::string> queue_;   // GUARDED_BY(mu_)
  std::vector<std::string> spare_;  // GUARDED_BY(mu_): hashed pieces, their buffers reused
  size_t queued_bytes_ = 0;         // GUARDED_BY(mu_)
  bool busy_ = false;               // GUARDED_BY(mu_): the worker is hashing a piece
  bool stop_ = false;               // GUARDED_BY(mu_)
  std::thread worker_;              // last: started once everything above exists
};

}  // namespace imgfs
