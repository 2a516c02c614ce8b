#include "imgfs/cli/flag_values.h"

#include <charconv>

namespace imgfs {

Result<uint64_t> ParseUintFlag(const std::string& flag, const std::string& text, uint64_t min,
                               uint64_t max) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  const std::string range = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  if (text.empty() || ec == std::errc::invalid_argument || end != text.data() + text.size())
    return Status::InvalidArgument(flag + " must be " + range + ", not '" + text + "'");
  if (ec == std::errc::result_out_of_range || v < min || v > max)
    return Status::InvalidArgument(flag + " " + text + " is out of range: it must be " + range);
  return v;
}

Result<uint64_t> ParseSizeFlag(const std::string& flag, const std::string& text, uint64_t max) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  const std::string unit = text.substr(digits);
  const int shift = unit.empty() || unit == "B"   ? 0
                    : unit == "K" || unit == "KiB" ? 10
                    : unit == "M" || unit == "MiB" ? 20
                    : unit == "G" || unit == "GiB" ? 30
                    : unit == "T" || unit == "TiB" ? 40
                                                   : -1;
  if (digits == 0 || shift < 0)
    return Status::InvalidArgument(flag + " must be a byte count such as 512M or 2G (units K, M, "
                                   "G, T), not '" + text + "'");
  auto n = ParseUintFlag(flag, text.substr(0, digits), 0, max >> shift);
  if (!n.ok())
    return Status::InvalidArgument(flag + " " + text + " is too large: at most " +
                                   std::to_string(max) + " bytes");
  return *n << shift;
}

}  // namespace imgfs
