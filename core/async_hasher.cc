#include "core/async_hasher.h"

namespace imgfs {

AsyncSha256::AsyncSha256() : worker_([this] { Loop(); }) {}

AsyncSha256::~AsyncSha256() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  worker_.join();
}

void AsyncSha256::Enqueue(Piece piece, std::unique_lock<std::mutex>& lock) {
  piece.ticket = ++last_ticket_;
  queue_.push_back(std::move(piece));
  lock.unlock();
  work_cv_.notify_one();
}

void AsyncSha256::Update(const void* data, size_t len) {
  if (len == 0) return;
  std::unique_lock<std::mutex> lock(mu_);
  room_cv_.wait(lock, [&] { return queued_bytes_ < kMaxQueued; });
  Piece piece;
  if (!spare_.empty()) {
    piece.owned = std::move(spare_.back());
    spare_.pop_back();
  }
  lock.unlock();
  // A recycled buffer keeps its capacity: no allocation (and no fresh pages to fault in) per
  // piece.
  piece.owned.assign(static_cast<const char*>(data), len);
  piece.length = len;
  lock.lock();
  queued_bytes_ += len;
  Enqueue(std::move(piece), lock);
}

void AsyncSha256::Update(std::string&& bytes) {
  if (bytes.empty()) return;
  std::unique_lock<std::mutex> lock(mu_);
  room_cv_.wait(lock, [&] { return queued_bytes_ < kMaxQueued; });
  Piece piece;
  piece.length = bytes.size();
  piece.owned = std::move(bytes);
  queued_bytes_ += piece.length;
  Enqueue(std::move(piece), lock);
}

uint64_t AsyncSha256::UpdateView(const void* data, size_t len) {
  std::unique_lock<std::mutex> lock(mu_);
  if (len == 0) return last_ticket_;
  Piece piece;
  piece.view = static_cast<const char*>(data);
  piece.length = len;
  Enqueue(std::move(piece), lock);
  return last_ticket_;
}

void AsyncSha256::WaitHashed(uint64_t ticket) {
  std::unique_lock<std::mutex> lock(mu_);
  room_cv_.wait(lock, [&] { return hashed_ticket_ >= ticket; });
}

Digest AsyncSha256::Finish() {
  std::unique_lock<std::mutex> lock(mu_);
  room_cv_.wait(lock, [&] { return hashed_ticket_ == last_ticket_; });
  return hasher_.Finish();
}

void AsyncSha256::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;
    Piece piece = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    hasher_.Update(piece.view ? piece.view : piece.owned.data(), piece.length);
    lock.lock();
    hashed_ticket_ = piece.ticket;
    if (!piece.view) {
      queued_bytes_ -= piece.length;
      if (spare_.size() < kMaxSpare) spare_.push_back(std::move(piece.owned));
    }
    room_cv_.notify_all();
  }
}

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
