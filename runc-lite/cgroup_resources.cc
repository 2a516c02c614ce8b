// ApplyResources(): linux.resources to v1 or v2 cgroup files.
#include <string>

#include "runc-lite/cgroups.h"
#include "runc-lite/device_filter.h"
#include "runc-lite/runtime_log.h"

namespace imgfs::runc {
namespace {

std::string DevNum(int64_t v) { return v < 0 ? "*" : std::to_string(v); }

std::string DeviceRuleString(const DeviceRule& r) {
  std::string type = r.type.empty() ? "a" : r.type;
  if (type == "a") return "a";
  return type + " " + (r.major ? DevNum(*r.major) : "*") + ":" +
         (r.minor ? DevNum(*r.minor) : "*") + " " + (r.access.empty() ? "rwm" : r.access);
}

const std::string* Dir(const ContainerState& s, const char* controller) {
  auto it = s.cgroup_paths.find(controller);
  return it == s.cgroup_paths.end() ? nullptr : &it->second;
}

Status ApplyV1(const ContainerState& s, const Resources& r) {
  if (const std::string* d = Dir(s, "memory")) {
    if (r.memory_limit) {
      std::string limit = std::to_string(*r.memory_limit);
      // Raising the limit above memsw must go memsw first; try both orders.
      Status st = WriteCgroupValue(*d, "memory.limit_in_bytes", limit);
      if (r.memory_swap) {
        std::string swap = std::to_string(*r.memory_swap);
        Status sw = WriteCgroupValue(*d, "memory.memsw.limit_in_bytes", swap);
        if (!st.ok()) st = WriteCgroupValue(*d, "memory.limit_in_bytes", limit);
        if (!sw.ok() && sw.error_number() != ENOENT)
          sw = WriteCgroupValue(*d, "memory.memsw.limit_in_bytes", swap);
        if (!sw.ok() && sw.error_number() != ENOENT) return sw;
      }
      RETURN_IF_ERROR(st);
    }
    if (r.memory_reservation)
      RETURN_IF_ERROR(WriteCgroupValue(*d, "memory.soft_limit_in_bytes",
                                       std::to_string(*r.memory_reservation)));
    if (r.memory_swappiness && *r.memory_swappiness >= 0 && *r.memory_swappiness <= 100)
      RETURN_IF_ERROR(
          WriteCgroupValue(*d, "memory.swappiness", std::to_string(*r.memory_swappiness)));
  } else if (r.memory_limit) {
    return Status::Unimplemented("memory cgroup controller is not mounted");
  }
  if (const std::string* d = Dir(s, "cpu")) {
    if (r.cpu_shares && *r.cpu_shares)
      RETURN_IF_ERROR(WriteCgroupValue(*d, "cpu.shares", std::to_string(*r.cpu_shares)));
    if (r.cpu_period && *r.cpu_period)
      RETURN_IF_ERROR(WriteCgroupValue(*d, "cpu.cfs_period_us", std::to_string(*r.cpu_period)));
    if (r.cpu_quota && *r.cpu_quota)
      RETURN_IF_ERROR(WriteCgroupValue(*d, "cpu.cfs_quota_us", std::to_string(*r.cpu_quota)));
  }
  if (const std::string* d = Dir(s, "cpuset")) {
    if (!r.cpuset_cpus.empty()) RETURN_IF_ERROR(WriteCgroupValue(*d, "cpuset.cpus", r.cpuset_cpus));
    if (!r.cpuset_mems.empty()) RETURN_IF_ERROR(WriteCgroupValue(*d, "cpuset.mems", r.cpuset_mems));
  }
  if (const std::string* d = Dir(s, "pids")) {
    if (r.pids_limit) {
      std::string v = *r.pids_limit > 0 ? std::to_string(*r.pids_limit) : "max";
      RETURN_IF_ERROR(WriteCgroupValue(*d, "pids.max", v));
    }
  } else if (r.pids_limit) {
    return Status::Unimplemented("pids cgroup controller is not mounted");
  }
  if (const std::string* d = Dir(s, "blkio")) {
    if (r.blkio_weight && *r.blkio_weight)
      RETURN_IF_ERROR(WriteCgroupValue(*d, "blkio.weight", std::to_string(*r.blkio_weight)));
    for (const auto& w : r.blkio_weight_device) {
      if (w.weight)
        RETURN_IF_ERROR(WriteCgroupValue(*d, "blkio.weight_device",
                                         std::to_string(w.major) + ":" + std::to_string(w.minor) +
                                             " " + std::to_string(*w.weight)));
    }
    auto throttle = [&](const std::vector<ThrottleDevice>& v, const char* file) -> Status {
      for (const auto& t : v)
        RETURN_IF_ERROR(WriteCgroupValue(*d, file,
                                         std::to_string(t.major) + ":" + std::to_string(t.minor) +
                                             " " + std::to_string(t.rate)));
      return Status::Ok();
    };
    RETURN_IF_ERROR(throttle(r.blkio_read_bps, "blkio.throttle.read_bps_device"));
    RETURN_IF_ERROR(throttle(r.blkio_write_bps, "blkio.throttle.write_bps_device"));
    RETURN_IF_ERROR(throttle(r.blkio_read_iops, "blkio.throttle.read_iops_device"));
    RETURN_IF_ERROR(throttle(r.blkio_write_iops, "blkio.throttle.write_iops_device"));
  }
  if (const std::string* d = Dir(s, "devices"); d && !r.devices.empty()) {
    for (const DeviceRule& rule : r.devices) {
      RETURN_IF_ERROR(WriteCgroupValue(*d, rule.allow ? "devices.allow" : "devices.deny",
                                       DeviceRuleString(rule)));
    }
  }
  if (!r.unified.empty()) {
    const std::string* d = Dir(s, "unified");
    if (!d) return Status::Unimplemented("linux.resources.unified needs cgroup v2");
    for (const auto& [k, v] : r.unified) RETURN_IF_ERROR(WriteCgroupValue(*d, k, v));
  }
  return Status::Ok();
}

Status ApplyV2(const ContainerState& s, const Resources& r) {
  const std::string* d = Dir(s, "unified");
  if (!d) return Status::NotFound("container has no cgroup2 directory");
  if (r.memory_limit) {
    std::string v = *r.memory_limit > 0 ? std::to_string(*r.memory_limit) : "max";
    RETURN_IF_ERROR(WriteCgroupValue(*d, "memory.max", v));
    if (r.memory_swap) {
      std::string sw = *r.memory_swap < 0
                           ? "max"
                           : std::to_string(std::max<int64_t>(0, *r.memory_swap - *r.memory_limit));
      Status st = WriteCgroupValue(*d, "memory.swap.max", sw);
      if (!st.ok() && st.error_number() != ENOENT) return st;
    }
  }
  if (r.memory_reservation)
    RETURN_IF_ERROR(WriteCgroupValue(*d, "memory.low", std::to_string(*r.memory_reservation)));
  if (r.cpu_shares && *r.cpu_shares) {
    uint64_t weight = 1 + ((*r.cpu_shares - 2) * 9999) / 262142;
    RETURN_IF_ERROR(WriteCgroupValue(*d, "cpu.weight", std::to_string(weight)));
  }
  if ((r.cpu_quota && *r.cpu_quota) || (r.cpu_period && *r.cpu_period)) {
    std::string quota = r.cpu_quota && *r.cpu_quota > 0 ? std::to_string(*r.cpu_quota) : "max";
    std::string period = std::to_string(r.cpu_period && *r.cpu_period ? *r.cpu_period : 100000);
    RETURN_IF_ERROR(WriteCgroupValue(*d, "cpu.max", quota + " " + period));
  }
  if (!r.cpuset_cpus.empty()) RETURN_IF_ERROR(WriteCgroupValue(*d, "cpuset.cpus", r.cpuset_cpus));
  if (!r.cpuset_mems.empty()) RETURN_IF_ERROR(WriteCgroupValue(*d, "cpuset.mems", r.cpuset_mems));
  if (r.pids_limit) {
    std::string v = *r.pids_limit > 0 ? std::to_string(*r.pids_limit) : "max";
    RETURN_IF_ERROR(WriteCgroupValue(*d, "pids.max", v));
  }
  if (r.blkio_weight && *r.blkio_weight) {
    uint64_t w = 1 + ((uint64_t{*r.blkio_weight} - 10) * 9999) / 990;
    RETURN_IF_ERROR(WriteCgroupValue(*d, "io.weight", "default " + std::to_string(w)));
  }
  auto throttle = [&](const std::vector<ThrottleDevice>& v, const char* key) -> Status {
    for (const auto& t : v)
      RETURN_IF_ERROR(WriteCgroupValue(*d, "io.max",
                                       std::to_string(t.major) + ":" + std::to_string(t.minor) +
                                           " " + key + "=" + std::to_string(t.rate)));
    return Status::Ok();
  };
  RETURN_IF_ERROR(throttle(r.blkio_read_bps, "rbps"));
  RETURN_IF_ERROR(throttle(r.blkio_write_bps, "wbps"));
  RETURN_IF_ERROR(throttle(r.blkio_read_iops, "riops"));
  RETURN_IF_ERROR(throttle(r.blkio_write_iops, "wiops"));
  if (!r.devices.empty()) RETURN_IF_ERROR(ApplyDeviceFilter(*d, r.devices));
  for (const auto& [k, v] : r.unified) RETURN_IF_ERROR(WriteCgroupValue(*d, k, v));
  return Status::Ok();
}

}  // namespace

Status ApplyResources(const ContainerState& state, const Resources& resources) {
  Status st = state.cgroup_v2 ? ApplyV2(state, resources) : ApplyV1(state, resources);
  return st.WithContext("applying cgroup resources");
}

}  // namespace imgfs::runc
