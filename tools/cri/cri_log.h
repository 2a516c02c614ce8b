// The CRI container log format (what containerd's CRI plugin writes to a container's log_path,
// the kubelet's "CRI logging format"): one record per line,
//   TIMESTAMP STREAM TAG CONTENT\n
// TIMESTAMP: RFC 3339 with nanoseconds; STREAM: "stdout" or "stderr"; TAG: "F" (the record ends
// a line of the container's output) or "P" (a partial line: the container's line goes on in the
// next record of the same stream, which is how runtimes split lines longer than their buffer).
// Tags may carry more ':'-separated fields after the first; only the first is read.
//
// CriLogReader turns the bytes of a log file, fed as they are appended, into the container's
// lines, joining partial records. A malformed record is an error naming it. Not thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace imgfs::cri {

enum class Stream { kStdout, kStderr };

struct LogRecord {
  std::string timestamp;
  Stream stream = Stream::kStdout;
  bool partial = false;
  std::string content;  // without the record's newline
};

// One record, without its newline.
[[nodiscard]] Result<LogRecord> ParseLogRecord(std::string_view line);

struct OutputLine {
  Stream stream = Stream::kStdout;
  std::string text;  // the container's line, with its newline ("\n")
};

class CriLogReader {
 public:
  // BYTES: what was appended to the log since the last call (any split, even mid-record).
  // Returns the container lines completed by them, in order.
  [[nodiscard]] Result<std::vector<OutputLine>> Feed(std::string_view bytes);
  // The lines still open at the end of the log (partial records never finished), without a
  // newline; clears them.
  std::vector<OutputLine> Flush();

 private:
  std::string pending_;  // an incomplete record (no newline yet)
  std::string open_[2];  // partial content per stream
  bool has_open_[2] = {false, false};
};

}  // namespace imgfs::cri
