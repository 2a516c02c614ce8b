// Numbers in control requests come from any local client: each is read with its bounds, and a
// value of the wrong type, negative, fractional or out of range is a one-line InvalidArgument
// naming the field, never a silent default, a wrap-around or an exception.
// Thread-safe (no state).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"

namespace imgfs::daemon {

// body[name] as an integer in [min, max]; `fallback` when the field is absent or null.
[[nodiscard]] inline Result<uint64_t> UintField(const nlohmann::json& body, const std::string& name,
                                                uint64_t fallback, uint64_t min, uint64_t max) {
  if (!body.is_object()) return Status::InvalidArgument("request is not a JSON object");
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return fallback;
  const bool integer =
      it->is_number_unsigned() || (it->is_number_integer() && it->get<int64_t>() >= 0);
  const uint64_t v = integer ? it->get<uint64_t>() : 0;
  if (!integer || v < min || v > max)
    return Status::InvalidArgument(name + " must be an integer from " + std::to_string(min) +
                                   " to " + std::to_string(max) + ", not " + it->dump());
  return v;
}

}  // namespace imgfs::daemon
