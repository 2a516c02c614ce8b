#include "runc-lite/cgroup_stats.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <limits>
#include <sstream>

#include "core/fd.h"

namespace imgfs::runc {
namespace {

using nlohmann::json;

std::string ReadText(const std::string& path) {
  Result<std::string> t = ReadFileToString(path, 1 << 20);
  return t.ok() ? *t : "";
}

// A single number; "max" is the largest uint64 (runc's "no limit"); missing or junk is 0.
uint64_t ReadU64(const std::string& path) {
  std::string t = ReadText(path);
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  if (t == "max") return std::numeric_limits<uint64_t>::max();
  if (t.empty() || t[0] == '-') return 0;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(t.c_str(), &end, 10);
  if (t.empty() || errno != 0 || end == t.c_str() || *end != '\0') return 0;
  return v;
}

const std::string* Dir(const ContainerState& s, const char* controller) {
  auto it = s.cgroup_paths.find(controller);
  return it == s.cgroup_paths.end() ? nullptr : &it->second;
}

// The directory holding CONTROLLER's files: its v1 directory, else the cgroup2 one if that has
// FILE.
const std::string* Where(const ContainerState& s, const char* controller, const std::string& file) {
  if (const std::string* d = Dir(s, controller)) return d;
  const std::string* u = Dir(s, "unified");
  return u && ::access((*u + "/" + file).c_str(), F_OK) == 0 ? u : nullptr;
}

bool IsV1(const ContainerState& s, const std::string* dir) {
  const std::string* u = Dir(s, "unified");
  return dir && (!u || *dir != *u);
}

json Usage(uint64_t usage, uint64_t max, uint64_t limit, uint64_t failcnt) {
  return {{"usage", usage}, {"max", max}, {"limit", limit}, {"failcnt", failcnt}};
}

json CpuStats(const ContainerState& s) {
  json cpu = {{"usage", {{"total", 0}, {"percpu", json::array()}, {"kernel", 0}, {"user", 0}}},
              {"throttling", {{"periods", 0}, {"throttled_periods", 0}, {"throttled_time", 0}}}};
  if (const std::string* acct = Dir(s, "cpuacct")) {
    cpu["usage"]["total"] = ReadU64(*acct + "/cpuacct.usage");
    std::istringstream per(ReadText(*acct + "/cpuacct.usage_percpu"));
    for (uint64_t v; per >> v;) cpu["usage"]["percpu"].push_back(v);
    auto st = ParseKeyValues(ReadText(*acct + "/cpuacct.stat"));
    const uint64_t ns_per_tick = 1000000000ULL / static_cast<uint64_t>(::sysconf(_SC_CLK_TCK));
    cpu["usage"]["user"] = st["user"] * ns_per_tick;
    cpu["usage"]["kernel"] = st["system"] * ns_per_tick;
  }
  const std::string* d = Where(s, "cpu", "cpu.stat");
  if (d == nullptr) return cpu;
  auto st = ParseKeyValues(ReadText(*d + "/cpu.stat"));
  cpu["throttling"]["periods"] = st["nr_periods"];
  cpu["throttling"]["throttled_periods"] = st["nr_throttled"];
  if (IsV1(s, d)) {
    cpu["throttling"]["throttled_time"] = st["throttled_time"];
  } else {
    cpu["throttling"]["throttled_time"] = st["throttled_usec"] * 1000;
    if (!Dir(s, "cpuacct")) {
      cpu["usage"]["total"] = st["usage_usec"] * 1000;
      cpu["usage"]["user"] = st["user_usec"] * 1000;
      cpu["usage"]["kernel"] = st["system_usec"] * 1000;
    }
  }
  return cpu;
}

json MemoryStats(const ContainerState& s) {
  json mem = {{"usage", Usage(0, 0, 0, 0)},
              {"swap", Usage(0, 0, 0, 0)},
              {"kernel", Usage(0, 0, 0, 0)},
              {"kernelTCP", Usage(0, 0, 0, 0)},
              {"cache", 0},
              {"raw", json::object()}};
  const std::string* d = Where(s, "memory", "memory.current");
  if (d == nullptr) return mem;
  auto raw = ParseKeyValues(ReadText(*d + "/memory.stat"));
  for (const auto& [k, v] : raw) mem["raw"][k] = v;
  if (IsV1(s, d)) {
    auto u = [&](const std::string& prefix) {
      return Usage(ReadU64(*d + "/" + prefix + ".usage_in_bytes"),
                   ReadU64(*d + "/" + prefix + ".max_usage_in_bytes"),
                   ReadU64(*d + "/" + prefix + ".limit_in_bytes"),
                   ReadU64(*d + "/" + prefix + ".failcnt"));
    };
    mem["usage"] = u("memory");
    mem["swap"] = u("memory.memsw");
    mem["kernel"] = u("memory.kmem");
    mem["kernelTCP"] = u("memory.kmem.tcp");
    mem["cache"] = raw["cache"];
  } else {
    auto events = ParseKeyValues(ReadText(*d + "/memory.events"));
    mem["usage"] = Usage(ReadU64(*d + "/memory.current"), ReadU64(*d + "/memory.peak"),
                         ReadU64(*d + "/memory.max"), events["max"]);
    mem["swap"] = Usage(ReadU64(*d + "/memory.swap.current"), ReadU64(*d + "/memory.swap.peak"),
                        ReadU64(*d + "/memory.swap.max"), 0);
    mem["cache"] = raw["file"];
  }
  return mem;
}

json PidsStats(const ContainerState& s) {
  const std::string* d = Where(s, "pids", "pids.current");
  if (d == nullptr) return {{"current", 0}, {"limit", 0}};
  uint64_t limit = ReadU64(*d + "/pids.max");
  // runc reports "max" (no limit) as 0.
  if (limit == std::numeric_limits<uint64_t>::max()) limit = 0;
  return {{"current", ReadU64(*d + "/pids.current")}, {"limit", limit}};
}

// hugetlb.<size>.* for every page size the directory has files for ("2MB", "1GB").
json HugetlbStats(const ContainerState& s) {
  json out = json::object();
  const std::string* d = Dir(s, "hugetlb");
  if (d == nullptr) {
    d = Dir(s, "unified");
    if (d == nullptr) return out;
  }
  const bool v1 = IsV1(s, d);
  DIR* dir = ::opendir(d->c_str());
  if (dir == nullptr) return out;
  while (dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    const std::string suffix = v1 ? ".usage_in_bytes" : ".current";
    if (name.rfind("hugetlb.", 0) != 0 || !name.ends_with(suffix) ||
        name.find(".rsvd.") != name.npos)
      continue;
    std::string size = name.substr(8, name.size() - 8 - suffix.size());
    std::string base = *d + "/hugetlb." + size;
    if (v1) {
      out[size] = {{"usage", ReadU64(base + ".usage_in_bytes")},
                   {"max", ReadU64(base + ".max_usage_in_bytes")},
                   {"failcnt", ReadU64(base + ".failcnt")}};
    } else {
      out[size] = {{"usage", ReadU64(base + ".current")},
                   {"max", ReadU64(base + ".max")},
                   {"failcnt", ParseKeyValues(ReadText(base + ".events"))["max"]}};
    }
  }
  ::closedir(dir);
  return out;
}

}  // namespace

std::map<std::string, uint64_t> ParseKeyValues(const std::string& text) {
  std::map<std::string, uint64_t> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string key, value;
    if (!(ls >> key >> value) || value[0] == '-') continue;
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(value.c_str(), &end, 10);
    if (errno == 0 && end != value.c_str() && *end == '\0') out[key] = v;
  }
  return out;
}

json CgroupStats(const ContainerState& state) {
  return {{"cpu", CpuStats(state)},
          {"memory", MemoryStats(state)},
          {"pids", PidsStats(state)},
          {"hugetlb", HugetlbStats(state)},
          {"blkio", json::object()}};
}

}  // namespace imgfs::runc
