// cgroup v2 device access control: linux.resources.devices compiled to a
// BPF_PROG_TYPE_CGROUP_DEVICE program and attached to the container's cgroup2 directory
// (what the v1 devices.allow/deny files do on v1 hierarchies). Thread-compatible.
#pragma once

#include <linux/bpf.h>

#include <string>
#include <vector>

#include "core/status.h"
#include "runc-lite/spec.h"

namespace imgfs::runc {

// Rules are evaluated like v1: the last "a" rule sets the default and later rules are
// exceptions; among those the last matching rule wins. Returns the program's instructions.
std::vector<bpf_insn> BuildDeviceFilter(const std::vector<DeviceRule>& rules);

// Loads the program for RULES and attaches it to CGROUP_DIR (BPF_F_ALLOW_MULTI), then detaches
// the programs that were attached there before (so `update` replaces, never widens, the filter).
Status ApplyDeviceFilter(const std::string& cgroup_dir, const std::vector<DeviceRule>& rules);

}  // namespace imgfs::runc
