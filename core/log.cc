#include "core/log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>

namespace imgfs {
namespace {

std::atomic<LogLevel> g_level{LogLevel::kInfo};
std::atomic<LogFormat> g_format{LogFormat::kText};
thread_local const LogFields* t_fields = nullptr;

constexpr const char* kLevelNames[] = {"debug", "info", "warning", "error"};

struct Rotation {
  std::mutex mu;
  std::string path;  // empty: standard error is not ours to rotate
  uint64_t max_bytes = 0;
};
Rotation& GetRotation() {
  static Rotation* r = new Rotation();  // never destroyed: threads may log during exit
  return *r;
}

std::string NowRfc3339() {
  timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  tm t;
  ::gmtime_r(&ts.tv_sec, &t);
  char buf[48];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
  std::snprintf(buf + n, sizeof buf - n, ".%03ldZ", ts.tv_nsec / 1000000);
  return buf;
}

// Opens PATH as fd 2. The caller holds the rotation mutex (or runs before any thread).
Status OpenAsStderr(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "open log file " + path);
  int rc = ::dup2(fd, STDERR_FILENO);  // dup2 clears close-on-exec on fd 2
  int saved = errno;
  ::close(fd);
  if (rc < 0) return Status::FromErrno(saved, "dup2 log file " + path);
  return Status::Ok();
}

void RotateIfFull() {
  Rotation& r = GetRotation();
  std::lock_guard<std::mutex> lock(r.mu);
  if (r.path.empty() || r.max_bytes == 0) return;
  struct stat st;
  if (::fstat(STDERR_FILENO, &st) != 0 || static_cast<uint64_t>(st.st_size) < r.max_bytes) return;
  std::string old = r.path + ".1";
  if (::rename(r.path.c_str(), old.c_str()) != 0) return;  // keep writing where we are
  (void)OpenAsStderr(r.path);
}

}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(level); }
LogLevel GetLogLevel() { return g_level.load(); }
void SetLogFormat(LogFormat format) { g_format.store(format); }

Result<LogLevel> ParseLogLevel(const std::string& name) {
  for (int i = 0; i < 4; ++i)
    if (name == kLevelNames[i]) return static_cast<LogLevel>(i);
  return Status::InvalidArgument("log level '" + name + "': want debug, info, warning or error");
}

Result<LogFormat> ParseLogFormat(const std::string& name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return Status::InvalidArgument("log format '" + name + "': want text or json");
}

Status SetLogRotation(const std::string& path, uint64_t max_bytes) {
  Rotation& r = GetRotation();
  std::lock_guard<std::mutex> lock(r.mu);
  if (!path.empty()) RETURN_IF_ERROR(OpenAsStderr(path));
  r.path = path;
  r.max_bytes = max_bytes;
  return Status::Ok();
}

ScopedLogFields::ScopedLogFields(const LogFields* fields) : previous_(t_fields) {
  t_fields = fields;
}

ScopedLogFields::~ScopedLogFields() { t_fields = previous_; }

std::string FormatLogLine(LogFormat format, LogLevel level, const std::string& line,
                          const LogFields& fields, const std::string& time) {
  const char* name = kLevelNames[static_cast<int>(level)];
  if (format == LogFormat::kJson) {
    nlohmann::ordered_json j = {{"time", time}, {"level", name}, {"msg", line}};
    for (const auto& [k, v] : fields) j[k] = v;
    // A hostile file name in a message must not break the line: replace invalid UTF-8.
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  std::string out = std::string("imgfs: ") + name + ": " + line;
  for (const auto& [k, v] : fields)
    out += " " + k + "=" +
           nlohmann::json(v).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return out;
}

void LogLine(LogLevel level, const std::string& line) {
  static const LogFields kNone;
  std::string out =
      FormatLogLine(g_format.load(), level, line, t_fields ? *t_fields : kNone, NowRfc3339()) +
      "\n";
  (void)!::write(STDERR_FILENO, out.data(), out.size());
  RotateIfFull();
}

}  // namespace imgfs
