// Counters of one daemon (or one mount): reads, bytes, cache hits and misses, fetches, a fetch
// latency histogram, prefetch progress, evictions, errors, remote retries by cause, fetched chunks
// that could not be cached (served from memory). Lock-free; safe from any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "imgfs/remote_store.h"

namespace imgfs::daemon {

struct Metrics {
  // Upper bounds of the fetch latency buckets, in seconds (Prometheus "le"); a last +Inf bucket.
  static constexpr std::array<double, 10> kLatencyBounds = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                                            0.05,  0.1,    0.25,  1.0,  5.0};
  std::atomic<uint64_t> reads{0};              // read() calls served
  std::atomic<uint64_t> bytes_served{0};       // bytes returned by read()
  std::atomic<uint64_t> read_errors{0};        // read() calls answered with an error
  std::atomic<uint64_t> memory_hits{0};        // chunks found decoded in memory
  std::atomic<uint64_t> cache_hits{0};         // chunks found in the local store
  std::atomic<uint64_t> cache_misses{0};       // chunks that had to be fetched
  std::atomic<uint64_t> fetch_requests{0};     // remote range requests
  std::atomic<uint64_t> bytes_fetched{0};      // stored bytes received from the remote
  std::atomic<uint64_t> fetch_errors{0};       // failed remote requests (after retries)
  std::atomic<uint64_t> verify_failures{0};    // chunks whose bytes failed their digest
  std::atomic<uint64_t> local_corruptions{0};  // local copies failing their checksum
  std::atomic<uint64_t> evictions{0};
  std::atomic<uint64_t> bytes_evicted{0};
  std::atomic<uint64_t> prefetch_total{0};  // chunks a replayed trace asked for
  std::atomic<uint64_t> prefetch_done{0};
  // Microseconds from the start of a trace replay until its last chunk was done; 0 until then.
  // The daemon's own clock: no poller's delay in it.
  std::atomic<uint64_t> prefetch_us{0};
  std::atomic<uint64_t> cached_bytes{0};  // stored bytes of evictable cached chunks
  // Fetched and verified chunks the local store could not take (a full disk, say): served from
  // memory only.
  std::atomic<uint64_t> cache_write_failures{0};
  // Remote attempts made again, by remote::RetryCause (the remote store's own retries, and the
  // fetcher's refetches of a chunk that failed its digest or of a wrong answer: bad_answer).
  std::array<std::atomic<uint64_t>, remote::kRetryCauseCount> retries{};
  std::array<std::atomic<uint64_t>, kLatencyBounds.size() + 1> latency_buckets{};
  std::atomic<uint64_t> latency_sum_us{0};

  void ObserveFetch(std::chrono::steady_clock::duration d);
  void CountRetry(remote::RetryCause cause) { retries[static_cast<size_t>(cause)]++; }
  uint64_t TotalRetries() const;
  nlohmann::json ToJson() const;
  // Prometheus text exposition of several series (labels like {mount="/mnt/x"}, or empty), each
  // metric family once with its HELP and TYPE and then every series' sample, as `promtool check
  // metrics` wants.
  static std::string ToPrometheus(
      const std::vector<std::pair<std::string, const Metrics*>>& series);
  // A label value quoted for the exposition format: \, \" and \n escaped.
  static std::string QuoteLabel(const std::string& value);
};

}  // namespace imgfs::daemon
