// `runc-lite events --stats`: a container's cgroup statistics in runc's JSON shape
// ({"type":"stats","id":ID,"data":{"cpu":...,"memory":...,"pids":...,"hugetlb":...}}), read from
// its v1 controllers and/or its cgroup2 directory (on a hybrid host a controller comes from
// where it is bound). Files that do not exist leave their fields at 0, as runc does; the files
// are read with a size cap. Thread-compatible.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"
#include "runc-lite/state_store.h"

namespace imgfs::runc {

// The "data" object for STATE's cgroups.
nlohmann::json CgroupStats(const ContainerState& state);

// Parses "key value" lines (cpu.stat, memory.stat, cgroup.events...) into a map.
std::map<std::string, uint64_t> ParseKeyValues(const std::string& text);

}  // namespace imgfs::runc
