#include "core/log.h"

#include <unistd.h>

#include <atomic>

namespace imgfs {

static std::atomic<LogLevel> g_level{LogLevel::kInfo};

void SetLogLevel(LogLevel level) { g_level.store(level); }
LogLevel GetLogLevel() { return g_level.load(); }

void LogLine(LogLevel level, const std::string& line) {
  static const char* const kNames[] = {"debug", "info", "warning", "error"};
  std::string out = std::string("imgfs: ") + kNames[static_cast<int>(level)] + ": " + line + "\n";
  (void)!::write(STDERR_FILENO, out.data(), out.size());
}

}  // namespace imgfs
