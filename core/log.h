// Minimal leveled logging to standard error. Thread-safe: each line is written with one write(2).
#pragma once

#include <sstream>
#include <string>

namespace imgfs {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
void LogLine(LogLevel level, const std::string& line);

class LogMessage {
 public:
  explicit LogMessage(LogLevel level) : level_(level) {}
  ~LogMessage() { LogLine(level_, stream_.str()); }
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

// Swallows the stream expression's value so that IMGFS_LOG is one expression: it can follow an
// `if` without braces and never captures a following `else`.
struct LogVoidify {
  void operator&(std::ostream&) {}
};

}  // namespace imgfs

// IMGFS_LOG(Info) << "text"; the stream expression is evaluated only when the level is enabled.
#define IMGFS_LOG(level)                                 \
  (::imgfs::LogLevel::k##level < ::imgfs::GetLogLevel()) \
      ? (void)0                                          \
      : ::imgfs::LogVoidify() & ::imgfs::LogMessage(::imgfs::LogLevel::k##level).stream()
