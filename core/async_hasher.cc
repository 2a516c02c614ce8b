#include "core/async_hasher.h"

namespace imgfs {

AsyncSha256Pair::AsyncSha256Pair() : worker_([this] { Loop(); }) {}

AsyncSha256Pair::~AsyncSha256Pair() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  worker_.join();
}

uint64_t AsyncSha256Pair::UpdateView(int stream, const void* data, size_t len) {
  std::unique_lock<std::mutex> lock(mu_);
  if (len == 0) return last_ticket_[stream];
  const uint64_t ticket = ++last_ticket_[stream];
  queues_[stream].push_back({{static_cast<const uint8_t*>(data), len}, ticket});
  lock.unlock();
  work_cv_.notify_one();
  return ticket;
}

void AsyncSha256Pair::WaitHashed(int stream, uint64_t ticket) {
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [&] { return hashed_ticket_[stream] >= ticket; });
}

Digest AsyncSha256Pair::Finish(int stream) {
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [&] { return hashed_ticket_[stream] == last_ticket_[stream]; });
  // Drained: the worker does not touch this lane until the producer (this thread) queues more.
  return lanes_[stream].Finish();
}

void AsyncSha256Pair::Loop() {
  Piece current[2];  // being hashed; bytes empty when none
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] {
      return stop_ || !queues_[0].empty() || !queues_[1].empty() || !current[0].bytes.empty() ||
             !current[1].bytes.empty();
    });
    for (int s = 0; s < 2; ++s) {
      if (current[s].bytes.empty() && !queues_[s].empty()) {
        current[s] = queues_[s].front();
        queues_[s].pop_front();
      }
    }
    if (current[0].bytes.empty() && current[1].bytes.empty()) return;  // stopped, drained
    lock.unlock();
    if (!current[0].bytes.empty() && !current[1].bytes.empty()) {
      Sha256Lane::UpdateBoth(lanes_[0], &current[0].bytes, lanes_[1], &current[1].bytes);
    } else {
      Piece& only = current[0].bytes.empty() ? current[1] : current[0];
      lanes_[&only - current].Update(only.bytes);
      only.bytes = {};
    }
    lock.lock();
    bool done = false;
    for (int s = 0; s < 2; ++s) {
      if (current[s].ticket && current[s].bytes.empty()) {
        hashed_ticket_[s] = current[s].ticket;
        current[s].ticket = 0;
        done = true;
      }
    }
    if (done) done_cv_.notify_all();
  }
}

}  // namespace imgfs
