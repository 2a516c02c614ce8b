#include "runc-lite/runtime_log.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/fd.h"
#include "core/log.h"

namespace imgfs::runc {
namespace {

int g_log_fd = -1;
bool g_json = false;
bool g_debug = false;
timespec g_start{};

std::string NowRfc3339() {
  time_t now = ::time(nullptr);
  tm t;
  ::gmtime_r(&now, &t);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &t);
  return buf;
}

void Emit(const std::string& level, const std::string& msg, bool to_stderr) {
  if (to_stderr) {
    std::string line =
        "runc-lite: " + (level == "error" ? std::string() : level + ": ") + msg + "\n";
    (void)!::write(STDERR_FILENO, line.data(), line.size());
  }
  if (g_log_fd < 0) return;
  std::string line;
  if (g_json) {
    line = JsonLogLine(level, msg, NowRfc3339()) + "\n";
  } else {
    line = "time=\"" + NowRfc3339() + "\" level=" + level + " msg=" + nlohmann::json(msg).dump() +
           "\n";
  }
  (void)WriteFull(g_log_fd, line);
}

}  // namespace

std::string JsonLogLine(const std::string& level, const std::string& msg, const std::string& time) {
  nlohmann::json j = {{"level", level}, {"msg", msg}, {"time", time}};
  return j.dump();
}

Status ConfigureLog(const std::string& path, const std::string& format, bool debug) {
  if (format != "text" && format != "json")
    return Status::InvalidArgument("invalid log-format: " + format);
  g_json = format == "json";
  g_debug = debug;
  ::clock_gettime(CLOCK_MONOTONIC, &g_start);
  SetLogLevel(debug ? LogLevel::kDebug : LogLevel::kWarning);
  if (!path.empty()) {
    ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_WRONLY | O_CREAT | O_APPEND, 0644));
    g_log_fd = fd.Release();
  }
  return Status::Ok();
}

void LogError(const std::string& msg) { Emit("error", msg, true); }
void LogWarning(const std::string& msg) { Emit("warning", msg, g_log_fd < 0); }
void LogDebug(const std::string& msg) {
  if (g_debug) Emit("debug", msg, g_log_fd < 0);
}

void LogPhase(const char* name) {
  if (!g_debug) return;
  timespec now;
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  double ms = static_cast<double>(now.tv_sec - g_start.tv_sec) * 1e3 +
              static_cast<double>(now.tv_nsec - g_start.tv_nsec) / 1e6;
  char buf[128];
  snprintf(buf, sizeof buf, "phase %s at %.3f ms", name, ms);
  Emit("debug", buf, g_log_fd < 0);
}

}  // namespace imgfs::runc
