// Checked parsing of numbers and sizes given as text (flags, requests, config values).
//
// Every function accepts the whole text or nothing: no leading or trailing space, no sign where
// none is allowed, no silent truncation or wrap-around. Errors are InvalidArgument with one line
// that names WHAT ("--pids-limit: \"x\" is not an integer"). Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace imgfs {

// Decimal digits only ("0".."18446744073709551615"), within [MIN, MAX].
Result<uint64_t> ParseUint64(std::string_view text, uint64_t min, uint64_t max,
                             std::string_view what);
// An optional '-' then decimal digits, within [MIN, MAX].
Result<int64_t> ParseInt64(std::string_view text, int64_t min, int64_t max, std::string_view what);

// A byte count: a decimal number (a fraction is allowed with a unit: "1.5G") and an optional
// binary unit, case-insensitive: B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB, P/PB/PiB, where
// K = 1024 (as docker and runc read sizes). "10G", "512MiB", "4096". The result must fit in
// MAX; fractions of a byte are dropped.
Result<uint64_t> ParseSize(std::string_view text, std::string_view what, uint64_t max = UINT64_MAX);

}  // namespace imgfs
