// How long a remote call waits before its next attempt; one schedule shared by the http(s)://
// remote store (remote_http.cc) and the registry client (registry/registry_client.cc).
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
