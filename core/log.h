// Leveled logging to standard error, as text ("imgfs: warning: ...") or as one JSON object per
// line (time, level, msg and the thread's fields, as containerd's --log-format json). A thread
// may attach fields (the mount and image it serves) to every line it logs with ScopedLogFields.
// When standard error is a file, SetLogRotation caps it: past the limit the file is renamed to
// FILE.1 (the previous FILE.1 is dropped) and a new FILE takes fd 2.
// Thread-safe: each line is written with one write(2); rotation is serialized by a mutex.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace imgfs {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };
enum class LogFormat { kText, kJson };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
void SetLogFormat(LogFormat format);
// "debug" | "info" | "warning" | "error"; "text" | "json".
Result<LogLevel> ParseLogLevel(const std::string& name);
Result<LogFormat> ParseLogFormat(const std::string& name);

// Opens PATH for appending as standard error and rotates it past MAX_BYTES (0: never). An empty
// PATH stops rotating and leaves standard error as it is.
Status SetLogRotation(const std::string& path, uint64_t max_bytes);

using LogFields = std::vector<std::pair<std::string, std::string>>;

// Adds *FIELDS to every line this thread logs while the scope lives; an inner scope replaces an
// outer one's fields until it ends. No copy (the FUSE read path sets it on every request):
// FIELDS must outlive the scope.
class ScopedLogFields {
 public:
  explicit ScopedLogFields(const LogFields* fields);
  ~ScopedLogFields();
  ScopedLogFields(const ScopedLogFields&) = delete;
  ScopedLogFields& operator=(const ScopedLogFields&) = delete;

 private:
  const LogFields* previous_;
};

void LogLine(LogLevel level, const std::string& line);
// The line LogLine writes, without its newline (for tests): TIME is RFC 3339.
std::string FormatLogLine(LogFormat format, LogLevel level, const std::string& line,
                          const LogFields& fields, const std::string& time);

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
