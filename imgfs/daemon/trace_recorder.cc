#include "imgfs/daemon/trace_recorder.h"

namespace imgfs::daemon {

TraceRecorder::TraceRecorder(std::chrono::seconds window, const Clock& clock)
    : clock_(clock), deadline_(clock.Now() + window) {}

bool TraceRecorder::WindowOver() const { return clock_.Now() > deadline_; }

void TraceRecorder::Record(const Digest& digest) {
  if (WindowOver()) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (seen_.insert(digest).second) order_.push_back(digest);
}

std::string TraceRecorder::Serialize() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const Digest& d : order_) out += d.ToString() + "\n";
  return out;
}

size_t TraceRecorder::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return order_.size();
}

std::vector<Digest> ParseTrace(std::string_view text) {
  std::vector<Digest> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (auto d = Digest::Parse(line); d.ok()) out.push_back(*d);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return out;
}

}  // namespace imgfs::daemon
