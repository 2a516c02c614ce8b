// The runtime's log, as runc's --log/--log-format/--debug define it.
//
// Errors always go to stderr; with --log FILE they are also appended to FILE, one line each,
// as text ("time=... level=error msg=...") or JSON ({"level":"error","msg":"...","time":RFC3339}),
// which is what containerd reads back after a failure. Call ConfigureLog once before threads
// start; logging itself is safe from one thread (the CLI is single-threaded).
#pragma once

#include <string>

#include "core/status.h"

namespace imgfs::runc {

Status ConfigureLog(const std::string& path, const std::string& format, bool debug);
void LogError(const std::string& msg);
void LogWarning(const std::string& msg);
void LogDebug(const std::string& msg);
// With --debug, a debug line "phase NAME at T ms" (T on the monotonic clock since ConfigureLog):
// the per-phase breakdown of a command (docs/BENCHMARKS.md). Free without --debug.
void LogPhase(const char* name);
// The JSON line for LEVEL and MSG (exposed for tests).
std::string JsonLogLine(const std::string& level, const std::string& msg, const std::string& time);

}  // namespace imgfs::runc
