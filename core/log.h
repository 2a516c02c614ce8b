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

}  // namespace imgfs

#define IMGFS_LOG(level)                                               \
  if (::imgfs::LogLevel::k##level < ::imgfs::GetLogLevel()) {          \
  } else                                                               \
    ::imgfs::LogMessage(::imgfs::LogLevel::k##level).stream()
