// Access traces: the chunks a workload reads in the first seconds after a mount, in first-read
// order, recorded while it runs and replayed as a prefetch on later mounts of the image.
// Thread-safety: TraceRecorder is safe for concurrent use; ParseTrace is a pure function.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "core/clock.h"
#include "core/digest.h"

namespace imgfs::daemon {

class TraceRecorder {
 public:
  // Records for `window` from now on `clock`, which must outlive the recorder.
  explicit TraceRecorder(std::chrono::seconds window, const Clock& clock = Clock::Real());
  // Records `digest` unless it was recorded before or the window is over.
  void Record(const Digest& digest);
  bool WindowOver() const;
  // One "sha256:<hex>" per line.
  std::string Serialize() const;
  size_t size() const;

 private:
  const Clock& clock_;
  const Clock::time_point deadline_;
  mutable std::mutex mu_;
  std::unordered_set<Digest, DigestHash> seen_;  // GUARDED_BY(mu_)
  std::vector<Digest> order_;                    // GUARDED_BY(mu_)
};

// Parses a serialized trace; unknown or malformed lines are skipped.
std::vector<Digest> ParseTrace(std::string_view text);

}  // namespace imgfs::daemon
