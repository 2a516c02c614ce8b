#include "tools/cri/cri_log.h"

namespace imgfs::cri {

Result<LogRecord> ParseLogRecord(std::string_view line) {
  auto bad = [&](const char* why) {
    return Status::Corruption(std::string("CRI log record '") + std::string(line.substr(0, 120)) +
                              "': " + why);
  };
  const size_t ts_end = line.find(' ');
  if (ts_end == std::string_view::npos || ts_end == 0) return bad("no timestamp");
  const size_t stream_end = line.find(' ', ts_end + 1);
  if (stream_end == std::string_view::npos) return bad("no stream");
  LogRecord r;
  r.timestamp = std::string(line.substr(0, ts_end));
  const std::string_view stream = line.substr(ts_end + 1, stream_end - ts_end - 1);
  if (stream == "stdout") {
    r.stream = Stream::kStdout;
  } else if (stream == "stderr") {
    r.stream = Stream::kStderr;
  } else {
    return bad("stream is neither stdout nor stderr");
  }
  // The tag ends at the next space, or at the end of a record with empty content.
  const size_t tag_end = line.find(' ', stream_end + 1);
  const std::string_view tags =
      line.substr(stream_end + 1, tag_end == std::string_view::npos ? std::string_view::npos
                                                                    : tag_end - stream_end - 1);
  const std::string_view tag = tags.substr(0, tags.find(':'));
  if (tag == "F") {
    r.partial = false;
  } else if (tag == "P") {
    r.partial = true;
  } else {
    return bad("tag is neither F nor P");
  }
  if (tag_end != std::string_view::npos) r.content = std::string(line.substr(tag_end + 1));
  return r;
}

Result<std::vector<OutputLine>> CriLogReader::Feed(std::string_view bytes) {
  pending_.append(bytes);
  std::vector<OutputLine> out;
  size_t start = 0;
  for (size_t nl; (nl = pending_.find('\n', start)) != std::string::npos; start = nl + 1) {
    ASSIGN_OR_RETURN(LogRecord r,
                     ParseLogRecord(std::string_view(pending_).substr(start, nl - start)));
    const int s = r.stream == Stream::kStdout ? 0 : 1;
    open_[s] += r.content;
    has_open_[s] = true;
    if (r.partial) continue;
    out.push_back({r.stream, std::move(open_[s]) + "\n"});
    open_[s].clear();
    has_open_[s] = false;
  }
  pending_.erase(0, start);
  return out;
}

std::vector<OutputLine> CriLogReader::Flush() {
  std::vector<OutputLine> out;
  for (int s = 0; s < 2; ++s) {
    if (!has_open_[s]) continue;
    out.push_back({s == 0 ? Stream::kStdout : Stream::kStderr, std::move(open_[s])});
    open_[s].clear();
    has_open_[s] = false;
  }
  return out;
}

}  // namespace imgfs::cri
