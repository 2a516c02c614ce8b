#include "core/numbers.h"

#include <cctype>

namespace imgfs {
namespace {

Status Bad(std::string_view what, std::string_view text, std::string_view why) {
  std::string msg(what);
  if (!msg.empty()) msg += ": ";
  msg += "\"" + std::string(text) + "\" " + std::string(why);
  return Status::InvalidArgument(std::move(msg));
}

// Decimal digits of TEXT into OUT; false on anything else or overflow.
bool Digits(std::string_view text, uint64_t& out) {
  if (text.empty()) return false;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

bool AllDigits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text)
    if (c < '0' || c > '9') return false;
  return true;
}

std::string Range(uint64_t min, uint64_t max) {
  return "is out of range (" + std::to_string(min) + ".." + std::to_string(max) + ")";
}

}  // namespace

Result<uint64_t> ParseUint64(std::string_view text, uint64_t min, uint64_t max,
                             std::string_view what) {
  uint64_t v = 0;
  if (!AllDigits(text)) return Bad(what, text, "is not a non-negative integer");
  if (!Digits(text, v) || v < min || v > max) return Bad(what, text, Range(min, max));
  return v;
}

Result<int64_t> ParseInt64(std::string_view text, int64_t min, int64_t max, std::string_view what) {
  const bool negative = !text.empty() && text[0] == '-';
  std::string_view digits = negative ? text.substr(1) : text;
  auto range = [&] {
    return Bad(what, text,
               "is out of range (" + std::to_string(min) + ".." + std::to_string(max) + ")");
  };
  if (!AllDigits(digits)) return Bad(what, text, "is not an integer");
  uint64_t magnitude = 0;
  if (!Digits(digits, magnitude)) return range();
  int64_t v;
  if (negative) {
    if (magnitude > static_cast<uint64_t>(INT64_MAX) + 1) return range();
    v = magnitude == static_cast<uint64_t>(INT64_MAX) + 1 ? INT64_MIN
                                                          : -static_cast<int64_t>(magnitude);
  } else {
    if (magnitude > static_cast<uint64_t>(INT64_MAX)) return range();
    v = static_cast<int64_t>(magnitude);
  }
  if (v < min || v > max) return range();
  return v;
}

Result<uint64_t> ParseSize(std::string_view text, std::string_view what, uint64_t max) {
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  std::string_view whole = text.substr(0, i), fraction;
  if (i < text.size() && text[i] == '.') {
    size_t start = ++i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    fraction = text.substr(start, i - start);
    if (fraction.empty()) return Bad(what, text, "is not a size (like 4096, 512M, 1.5GiB)");
  }
  if (whole.empty()) return Bad(what, text, "is not a size (like 4096, 512M, 1.5GiB)");
  std::string unit;
  for (char c : text.substr(i))
    unit += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  int shift = -1;
  static const char kUnits[] = "bkmgtp";
  if (unit.empty()) {
    shift = 0;
  } else {
    size_t pos = std::string_view(kUnits).find(unit[0]);
    std::string_view rest = std::string_view(unit).substr(1);
    if (pos != std::string_view::npos &&
        (rest.empty() || (pos > 0 && (rest == "b" || rest == "ib"))))
      shift = static_cast<int>(pos) * 10;
  }
  if (shift < 0)
    return Bad(what, text, "has an unknown unit (use B, K, M, G, T or P, e.g. 512M or 10GiB)");
  if (shift == 0 && !fraction.empty()) return Bad(what, text, "is not a whole number of bytes");
  uint64_t w = 0;
  if (!Digits(whole, w) || (shift > 0 && w > (UINT64_MAX >> shift)))
    return Bad(what, text, "is too large");
  uint64_t bytes = w << shift;
  if (!fraction.empty()) {
    // fraction * 2^shift / 10^digits, with at most 18 digits so every step fits in 128 bits.
    std::string_view f = fraction.substr(0, 18);
    uint64_t num = 0, den = 1;
    (void)Digits(f, num);
    for (size_t k = 0; k < f.size(); ++k) den *= 10;
    unsigned __int128 part = (static_cast<unsigned __int128>(num) << shift) / den;
    if (part > UINT64_MAX - bytes) return Bad(what, text, "is too large");
    bytes += static_cast<uint64_t>(part);
  }
  if (bytes > max)
    return Bad(what, text, "is too large (at most " + std::to_string(max) + " bytes)");
  return bytes;
}

}  // namespace imgfs
