// Checked parsing of the numbers given to imgfs flags: "--cache-size x" or "--threads 1e9" is a
// one-line error naming the flag, never a silent 0, a wrap-around or an exception.
// (Local to the imgfs CLI until it moves onto the project's one flag parser.)
// Thread-safe (no state).
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace imgfs {

// A decimal integer in [min, max]. FLAG names the flag in errors ("--threads").
[[nodiscard]] Result<uint64_t> ParseUintFlag(const std::string& flag, const std::string& text,
                                             uint64_t min, uint64_t max);

// A byte count: an integer with an optional unit K/KiB, M/MiB, G/GiB, T/TiB (powers of 1024)
// or B, at most `max`.
[[nodiscard]] Result<uint64_t> ParseSizeFlag(const std::string& flag, const std::string& text,
                                             uint64_t max);

}  // namespace imgfs
