// A small YAML emitter and a parser for the YAML subset CDI specs use, both over nlohmann::json
// values, so no YAML library is needed.
//
// Emitted: block mappings and sequences (two-space indent, "- " items), scalars plain when
// unambiguous and JSON-style double-quoted otherwise, "{}"/"[]" for empty collections.
// Parsed (enough for our output and for hand-written specs such as nvidia-ctk's):
//   block mappings and sequences by indentation (sequences may sit at their key's indent),
//   "- key: value" items, comments, "---" document start, plain / 'single' / "double" quoted
//   scalars (JSON escapes), flow sequences [a, "b", 1] and flow mappings {a: b} of scalars,
//   integers, true/false, null/~.
// Refused with kInvalidArgument: anchors/aliases, tags, block scalars (| >), multi-document
// files, multi-line plain scalars, tabs for indentation.
// Thread-safety: stateless functions; safe from any thread.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/status.h"

namespace imgfs::gpu {

std::string EmitYaml(const nlohmann::json& value);
Result<nlohmann::json> ParseYaml(std::string_view text);

}  // namespace imgfs::gpu
