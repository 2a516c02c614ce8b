// How long a remote call waits before its next attempt; one schedule shared by the http(s)://
// remote store (remote_http.cc) and the registry client (registry/registry_client.cc). And how
// long one transfer may take (TransferTime), for both.
//
// The wait doubles from `initial` up to `max`; it is at least what the server asked for with
// Retry-After (capped at `max`), plus a random jitter of up to a quarter of the current step so
// that many nodes retrying at once spread out. Not thread-safe: one schedule per call.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace imgfs::remote {

// The time a transfer of `bytes` may take: `request_timeout` plus the bytes at `min_rate` bytes
// a second (0: no rate, the timeout alone). Saturates at ~35 years: byte counts a remote chose
// (a hostile offset) cannot wrap it into a short or no deadline.
inline std::chrono::milliseconds TransferTime(std::chrono::milliseconds request_timeout,
                                              uint64_t bytes, uint64_t min_rate) {
  constexpr uint64_t kMaxMs = uint64_t{1} << 40;
  uint64_t ms = static_cast<uint64_t>(std::max<int64_t>(0, request_timeout.count()));
  if (min_rate > 0) {
    const uint64_t seconds = bytes / min_rate;
    ms += seconds >= kMaxMs / 1000 ? kMaxMs : seconds * 1000 + (bytes % min_rate) * 1000 / min_rate;
  }
  return std::chrono::milliseconds(std::min(ms, kMaxMs));
}

class RetryBackoff {
 public:
  RetryBackoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
      : step_(initial), max_(max) {}

  // The wait before the next attempt (`retry_after`: the server's Retry-After, 0 if none);
  // the step after it is doubled.
  std::chrono::milliseconds Next(std::chrono::milliseconds retry_after = {}) {
    static thread_local std::minstd_rand rng(std::random_device{}());
    auto wait = std::max(step_, std::min(retry_after, max_));
    wait += std::chrono::milliseconds(
        std::uniform_int_distribution<int64_t>(0, std::max<int64_t>(0, step_.count() / 4))(rng));
    step_ = std::min(step_ * 2, max_);
    return wait;
  }

 private:
  std::chrono::milliseconds step_;
  const std::chrono::milliseconds max_;
};

}  // namespace imgfs::remote
