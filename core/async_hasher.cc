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

void AsyncSha256::Update(const void* data, size_t len) {
  if (len == 0) return;
  std::unique_lock<std::mutex> lock(mu_);
  room_cv_.wait(lock, [&] { return queued_bytes_ < kMaxQueued; });
  std::string piece;
  if (!spare_.empty()) {
    piece = std::move(spare_.back());
    spare_.pop_back();
  }
  lock.unlock();
  // A recycled buffer keeps its capacity: no allocation (and no fresh pages to fault in) per
  // piece.
  piece.assign(static_cast<const char*>(data), len);
  lock.lock();
  queued_bytes_ += len;
  queue_.push_back(std::move(piece));
  lock.unlock();
  work_cv_.notify_one();
}

void AsyncSha256::Update(std::string&& piece) {
  if (piece.empty()) return;
  std::unique_lock<std::mutex> lock(mu_);
  room_cv_.wait(lock, [&] { return queued_bytes_ < kMaxQueued; });
  queued_bytes_ += piece.size();
  queue_.push_back(std::move(piece));
  lock.unlock();
  work_cv_.notify_one();
}

Digest AsyncSha256::Finish() {
  std::unique_lock<std::mutex> lock(mu_);
  room_cv_.wait(lock, [&] { return queue_.empty() && !busy_; });
  return hasher_.Finish();
}

void AsyncSha256::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;
    std::string piece = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    hasher_.Update(piece.data(), piece.size());
    lock.lock();
    busy_ = false;
    queued_bytes_ -= piece.size();
    if (spare_.size() < kMaxSpare) spare_.push_back(std::move(piece));
    room_cv_.notify_all();
  }
}

}  // namespace imgfs
