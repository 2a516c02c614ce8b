#include "imgfs/daemon/metrics.h"

#include <cstdio>

namespace imgfs::daemon {

void Metrics::ObserveFetch(std::chrono::steady_clock::duration d) {
  double secs = std::chrono::duration<double>(d).count();
  size_t i = 0;
  while (i < kLatencyBounds.size() && secs > kLatencyBounds[i]) ++i;
  latency_buckets[i]++;
  latency_sum_us += static_cast<uint64_t>(secs * 1e6);
}

uint64_t Metrics::TotalRetries() const {
  uint64_t n = 0;
  for (const auto& r : retries) n += r.load();
  return n;
}

namespace {

struct Counter {
  const char* name;
  const char* help;
  const std::atomic<uint64_t> Metrics::*field;
};

constexpr Counter kCounters[] = {
    {"reads", "read() calls served", &Metrics::reads},
    {"bytes_served", "bytes returned by read()", &Metrics::bytes_served},
    {"read_errors", "read() calls answered with an error", &Metrics::read_errors},
    {"memory_hits", "chunks found decoded in memory", &Metrics::memory_hits},
    {"cache_hits", "chunks found in the local store", &Metrics::cache_hits},
    {"cache_misses", "chunks fetched from the remote", &Metrics::cache_misses},
    {"fetch_requests", "remote range requests", &Metrics::fetch_requests},
    {"bytes_fetched", "bytes received from the remote", &Metrics::bytes_fetched},
    {"fetch_errors", "failed remote requests after retries", &Metrics::fetch_errors},
    {"verify_failures", "fetched chunks that failed their digest", &Metrics::verify_failures},
    {"local_corruptions", "local copies that failed their checksum", &Metrics::local_corruptions},
    {"evictions", "chunks evicted from the local cache", &Metrics::evictions},
    {"bytes_evicted", "stored bytes evicted from the local cache", &Metrics::bytes_evicted},
    {"prefetch_total", "chunks a replayed trace asked for", &Metrics::prefetch_total},
    {"prefetch_done", "trace chunks prefetched so far", &Metrics::prefetch_done},
    {"prefetch_us", "microseconds a trace replay took to fetch its last chunk (0 until then)",
     &Metrics::prefetch_us},
    {"cached_bytes", "stored bytes of evictable cached chunks", &Metrics::cached_bytes},
    {"cache_write_failures", "fetched chunks the local store could not take (served from memory)",
     &Metrics::cache_write_failures},
};

}  // namespace

nlohmann::json Metrics::ToJson() const {
  nlohmann::json j;
  for (const Counter& c : kCounters) j[c.name] = (this->*c.field).load();
  nlohmann::json hist = nlohmann::json::array();
  for (size_t i = 0; i < latency_buckets.size(); ++i)
    hist.push_back({{"le", i < kLatencyBounds.size() ? nlohmann::json(kLatencyBounds[i])
                                                     : nlohmann::json("+Inf")},
                    {"count", latency_buckets[i].load()}});
  nlohmann::json retries = nlohmann::json::object();
  for (int i = 0; i < remote::kRetryCauseCount; ++i)
    retries[remote::RetryCauseName(static_cast<remote::RetryCause>(i))] = this->retries[i].load();
  j["retries"] = retries;
  j["retries_total"] = TotalRetries();
  j["fetch_latency"] = {{"buckets", hist}, {"sum_seconds", latency_sum_us.load() / 1e6}};
  return j;
}

std::string Metrics::QuoteLabel(const std::string& value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    out += c == '\n' ? std::string("\\n") : std::string(1, c);
  }
  return out + "\"";
}

std::string Metrics::ToPrometheus(
    const std::vector<std::pair<std::string, const Metrics*>>& series) {
  std::string out;
  for (const Counter& c : kCounters) {
    bool gauge =
        std::string(c.name) == "cached_bytes" || std::string(c.name).rfind("prefetch", 0) == 0;
    out += std::string("# HELP imgfs_") + c.name + " " + c.help + "\n# TYPE imgfs_" + c.name +
           (gauge ? " gauge\n" : " counter\n");
    for (const auto& [labels, m] : series)
      out += std::string("imgfs_") + c.name + labels + " " + std::to_string((m->*c.field).load()) +
             "\n";
  }
  out +=
      "# HELP imgfs_remote_retries remote attempts made again, by cause\n"
      "# TYPE imgfs_remote_retries counter\n";
  for (const auto& [labels, m] : series) {
    std::string inner = labels.size() > 2 ? labels.substr(1, labels.size() - 2) + "," : "";
    for (int i = 0; i < remote::kRetryCauseCount; ++i)
      out += "imgfs_remote_retries{" + inner + "cause=\"" +
             remote::RetryCauseName(static_cast<remote::RetryCause>(i)) + "\"} " +
             std::to_string(m->retries[i].load()) + "\n";
  }
  out +=
      "# HELP imgfs_fetch_latency_seconds remote range request latency\n"
      "# TYPE imgfs_fetch_latency_seconds histogram\n";
  for (const auto& [labels, m] : series) {
    std::string inner = labels.size() > 2 ? labels.substr(1, labels.size() - 2) + "," : "";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < m->latency_buckets.size(); ++i) {
      cumulative += m->latency_buckets[i].load();
      std::string le = i < kLatencyBounds.size() ? std::to_string(kLatencyBounds[i]) : "+Inf";
      out += "imgfs_fetch_latency_seconds_bucket{" + inner + "le=\"" + le + "\"} " +
             std::to_string(cumulative) + "\n";
    }
    out += "imgfs_fetch_latency_seconds_sum" + labels + " " +
           std::to_string(m->latency_sum_us.load() / 1e6) + "\n";
    out += "imgfs_fetch_latency_seconds_count" + labels + " " + std::to_string(cumulative) + "\n";
  }
  return out;
}

}  // namespace imgfs::daemon
