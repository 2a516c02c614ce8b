// The subset of the OCI runtime-spec config.json that runc-lite understands.
//
// ParseSpec() validates as it parses: a config that names an unknown namespace, an unknown
// capability-like string in a known field, a relative mount destination, a missing process, an
// integer that does not fit its field (a float, a uid of -1 or 2^32: ids must be 0..kMaxId) or
// an array longer than its cap below is rejected with an InvalidArgument status naming the JSON
// path. Fields runc-lite does not use are
// ignored (as runc does). Plain value types; thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace imgfs::runc {

// The largest valid user or group id: (uid_t)-1 means "unchanged" to the kernel.
inline constexpr uint32_t kMaxId = 4294967294u;

// Caps on the arrays of a config.json, so a hostile config is refused at once instead of keeping
// the runtime busy (each mount, device or path is work for the container's init).
inline constexpr size_t kMaxMounts = 4096;
inline constexpr size_t kMaxDevices = 4096;
inline constexpr size_t kMaxDeviceRules = 4096;
inline constexpr size_t kMaxEntries = 4096;  // masked/readonly paths, sysctls, annotations
inline constexpr size_t kMaxHooks = 256;     // per hook kind
inline constexpr size_t kMaxNamespaces = 16;
inline constexpr size_t kMaxIdMappings = 340;        // the kernel's own limit per map
inline constexpr size_t kMaxAdditionalGids = 65536;  // NGROUPS_MAX
inline constexpr size_t kMaxRlimits = 64;
inline constexpr size_t kMaxSeccompRules = 8192;
inline constexpr size_t kMaxBlkioDevices = 1024;

struct Rlimit {
  std::string type;  // "RLIMIT_NOFILE"
  uint64_t soft = 0;
  uint64_t hard = 0;
};

struct Capabilities {
  std::vector<std::string> bounding, effective, inheritable, permitted, ambient;
};

struct User {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::optional<uint32_t> umask;
  std::vector<uint32_t> additional_gids;
};

struct ConsoleSize {
  uint32_t height = 0;
  uint32_t width = 0;
};

struct Process {
  bool terminal = false;
  std::optional<ConsoleSize> console_size;
  User user;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string cwd = "/";
  std::optional<Capabilities> capabilities;
  std::vector<Rlimit> rlimits;
  bool no_new_privileges = false;
  std::optional<int> oom_score_adj;
};

struct Mount {
  std::string destination;
  std::string type;
  std::string source;
  std::vector<std::string> options;
};

struct Hook {
  std::string path;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::optional<int> timeout;  // seconds
  bool env_set = false;        // "env" given (even []): exactly ENV; else the runtime's own env
};

struct Hooks {
  std::vector<Hook> prestart, create_runtime, create_container, start_container, poststart,
      poststop;
};

struct Namespace {
  std::string type;  // pid network mount ipc uts user cgroup time
  std::string path;  // join instead of create when set
};

struct IdMapping {
  uint32_t container_id = 0;
  uint32_t host_id = 0;
  uint32_t size = 0;
};

struct Device {
  std::string path;
  std::string type;  // c b u p
  int64_t major = 0;
  int64_t minor = 0;
  std::optional<uint32_t> file_mode;
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
};

struct DeviceRule {
  bool allow = false;
  std::string type;  // a c b ("" = a)
  std::optional<int64_t> major, minor;
  std::string access;  // rwm
};

struct WeightDevice {
  int64_t major = 0, minor = 0;
  std::optional<uint16_t> weight;
};
struct ThrottleDevice {
  int64_t major = 0, minor = 0;
  uint64_t rate = 0;
};

// linux.resources; every limit optional, unset means "leave as is".
struct Resources {
  std::vector<DeviceRule> devices;
  std::optional<int64_t> memory_limit, memory_reservation, memory_swap;
  std::optional<int64_t> memory_swappiness;
  std::optional<uint64_t> cpu_shares;
  std::optional<int64_t> cpu_quota;
  std::optional<uint64_t> cpu_period;
  std::string cpuset_cpus, cpuset_mems;
  std::optional<int64_t> pids_limit;
  std::optional<uint16_t> blkio_weight;
  std::vector<WeightDevice> blkio_weight_device;
  std::vector<ThrottleDevice> blkio_read_bps, blkio_write_bps, blkio_read_iops, blkio_write_iops;
  std::map<std::string, std::string> unified;
};

struct SyscallArg {
  uint32_t index = 0;
  uint64_t value = 0;
  uint64_t value_two = 0;
  std::string op;  // SCMP_CMP_EQ ...
};

struct SyscallRule {
  std::vector<std::string> names;
  std::string action;
  std::optional<uint32_t> errno_ret;
  std::vector<SyscallArg> args;
};

struct Seccomp {
  std::string default_action;
  std::optional<uint32_t> default_errno_ret;
  std::vector<std::string> architectures;
  std::vector<std::string> flags;
  std::vector<SyscallRule> syscalls;
};

struct Linux {
  std::vector<Namespace> namespaces;
  std::vector<IdMapping> uid_mappings, gid_mappings;
  std::vector<Device> devices;
  std::string cgroups_path;
  std::optional<Resources> resources;
  std::string rootfs_propagation;
  std::map<std::string, std::string> sysctl;
  std::vector<std::string> masked_paths, readonly_paths;
  std::optional<Seccomp> seccomp;
  std::map<std::string, std::pair<int64_t, int64_t>> time_offsets;  // monotonic/boottime: secs,ns
};

struct Spec {
  std::string oci_version;
  std::string root_path;  // as written; relative to the bundle unless absolute
  bool root_readonly = false;
  std::optional<Process> process;
  std::string hostname, domainname;
  std::vector<Mount> mounts;
  Hooks hooks;
  std::map<std::string, std::string> annotations;
  Linux linux;

  // Returns the namespace entry of TYPE, or nullptr.
  const Namespace* FindNamespace(const std::string& type) const;
};

// Parses and validates the text of a config.json.
Result<Spec> ParseSpec(const std::string& json_text);
// Parses linux.resources alone (the `update --resources` document).
Result<Resources> ParseResources(const std::string& json_text);
// Parses a process.json (the `exec --process` document).
Result<Process> ParseProcess(const std::string& json_text);
// Reads BUNDLE/config.json and parses it.
// A bundle config already read (path names it in errors); requires a process with args.
Result<Spec> ParseBundleSpec(const std::string& text, const std::string& path);
Result<Spec> LoadBundleSpec(const std::string& bundle);

}  // namespace imgfs::runc
