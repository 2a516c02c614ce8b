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

}  // namespace imgfs
