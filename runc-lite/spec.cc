#include "runc-lite/spec.h"

#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <type_traits>

#include "core/fd.h"
#include "runc-lite/mount_options.h"

namespace imgfs::runc {
namespace {

using nlohmann::json;

// Typed accessors: a wrong type is an error naming the field, a missing field leaves OUT alone.
// Integers are read strictly: a float, or a value that does not fit the field, is an error (never
// truncated or wrapped: a uid of -1 or 2^32 must not become "unchanged" or 0 = root).
struct Reader {
  Status status;
  void Fail(const std::string& what) {
    if (status.ok()) status = Status::InvalidArgument(what);
  }
  template <typename T>
  bool ToInteger(const json& v, T& out, int64_t min, uint64_t max) {
    if (v.is_number_unsigned()) {
      uint64_t u = v.get<uint64_t>();
      if (u > max) return false;
      out = static_cast<T>(u);
      return true;
    }
    if (v.is_number_integer()) {
      int64_t i = v.get<int64_t>();
      if (i < min || (i > 0 && static_cast<uint64_t>(i) > max)) return false;
      out = static_cast<T>(i);
      return true;
    }
    return false;
  }
  template <typename T>
  void Integer(const json& v, T& out, const std::string& field, int64_t min, uint64_t max) {
    if (!ToInteger(v, out, min, max))
      Fail(field + ": " + v.dump() + " is not an integer in " + std::to_string(min) + ".." +
           std::to_string(max));
  }
  template <typename T>
  void Get(const json& j, const char* key, T& out, const std::string& where) {
    if (!j.is_object() || !j.contains(key) || j[key].is_null()) return;
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      Integer(j[key], out, where + "." + key, std::numeric_limits<T>::min(),
              std::numeric_limits<T>::max());
    } else {
      try {
        out = j[key].get<T>();
      } catch (const json::exception& e) {
        Fail(where + "." + key + ": " + e.what());
      }
    }
  }
  template <typename T>
  void GetOpt(const json& j, const char* key, std::optional<T>& out, const std::string& where) {
    if (!j.is_object() || !j.contains(key) || j[key].is_null()) return;
    T v{};
    Get(j, key, v, where);
    out = v;
  }
  // A user or group id: 0..4294967294, as runc requires (4294967295 is (uid_t)-1, "unchanged"
  // to setresuid; larger values would be truncated).
  void GetId(const json& j, const char* key, uint32_t& out, const std::string& where) {
    if (!j.is_object() || !j.contains(key) || j[key].is_null()) return;
    if (!ToInteger(j[key], out, 0, kMaxId))
      Fail(where + "." + key + ": " + j[key].dump() + " is not a valid id (0.." +
           std::to_string(kMaxId) + ")");
  }
  void GetOptId(const json& j, const char* key, std::optional<uint32_t>& out,
                const std::string& where) {
    if (!j.is_object() || !j.contains(key) || j[key].is_null()) return;
    uint32_t v = 0;
    GetId(j, key, v, where);
    out = v;
  }
  // J[KEY] as an array of at most MAX entries, or nullptr when absent (or not an array).
  const json* Array(const json& j, const char* key, size_t max, const std::string& where) {
    if (!j.is_object() || !j.contains(key) || !j[key].is_array()) return nullptr;
    const json& a = j[key];
    if (a.size() > max) {
      Fail("too many " + where + " (" + std::to_string(a.size()) + "; at most " +
           std::to_string(max) + ")");
      return nullptr;
    }
    return &a;
  }
  // J[KEY] as an object of at most MAX entries; counts only.
  void CapObject(const json& j, const char* key, size_t max, const std::string& where) {
    if (j.is_object() && j.contains(key) && j[key].is_object() && j[key].size() > max)
      Fail("too many " + where + " (" + std::to_string(j[key].size()) + "; at most " +
           std::to_string(max) + ")");
  }
};

const std::set<std::string> kNamespaces = {"pid", "network", "mount",  "ipc",
                                           "uts", "user",    "cgroup", "time"};

Process ParseProcessJson(Reader& r, const json& p) {
  Process out;
  r.Get(p, "terminal", out.terminal, "process");
  if (p.contains("consoleSize") && p["consoleSize"].is_object()) {
    ConsoleSize cs;
    r.Get(p["consoleSize"], "height", cs.height, "process.consoleSize");
    r.Get(p["consoleSize"], "width", cs.width, "process.consoleSize");
    out.console_size = cs;
  }
  if (p.contains("user") && p["user"].is_object()) {
    const json& u = p["user"];
    r.GetId(u, "uid", out.user.uid, "process.user");
    r.GetId(u, "gid", out.user.gid, "process.user");
    r.GetOpt(u, "umask", out.user.umask, "process.user");
    if (const json* gids =
            r.Array(u, "additionalGids", kMaxAdditionalGids, "process.user.additionalGids")) {
      for (const json& g : *gids) {
        uint32_t gid = 0;
        if (!r.ToInteger(g, gid, 0, kMaxId))
          r.Fail("process.user.additionalGids: " + g.dump() + " is not a valid id (0.." +
                 std::to_string(kMaxId) + ")");
        out.user.additional_gids.push_back(gid);
      }
    } else if (u.contains("additionalGids") && !u["additionalGids"].is_null() &&
               !u["additionalGids"].is_array()) {
      r.Fail("process.user.additionalGids must be an array");
    }
  }
  r.Get(p, "args", out.args, "process");
  r.Get(p, "env", out.env, "process");
  r.Get(p, "cwd", out.cwd, "process");
  if (out.cwd.empty()) out.cwd = "/";
  if (out.cwd[0] != '/') r.Fail("process.cwd must be absolute: " + out.cwd);
  if (p.contains("capabilities") && p["capabilities"].is_object()) {
    const json& c = p["capabilities"];
    Capabilities caps;
    r.Get(c, "bounding", caps.bounding, "process.capabilities");
    r.Get(c, "effective", caps.effective, "process.capabilities");
    r.Get(c, "inheritable", caps.inheritable, "process.capabilities");
    r.Get(c, "permitted", caps.permitted, "process.capabilities");
    r.Get(c, "ambient", caps.ambient, "process.capabilities");
    out.capabilities = caps;
  }
  if (const json* rlimits = r.Array(p, "rlimits", kMaxRlimits, "process.rlimits")) {
    for (const json& l : *rlimits) {
      Rlimit rl;
      r.Get(l, "type", rl.type, "process.rlimits");
      r.Get(l, "soft", rl.soft, "process.rlimits");
      r.Get(l, "hard", rl.hard, "process.rlimits");
      if (rl.type.rfind("RLIMIT_", 0) != 0) r.Fail("process.rlimits: bad type " + rl.type);
      out.rlimits.push_back(rl);
    }
  }
  r.Get(p, "noNewPrivileges", out.no_new_privileges, "process");
  r.GetOpt(p, "oomScoreAdj", out.oom_score_adj, "process");
  return out;
}

std::vector<Hook> ParseHooks(Reader& r, const json& j, const char* key) {
  std::vector<Hook> out;
  std::string where = std::string("hooks.") + key;
  const json* list = r.Array(j, key, kMaxHooks, where);
  if (list == nullptr) return out;
  for (const json& h : *list) {
    Hook hook;
    r.Get(h, "path", hook.path, where);
    r.Get(h, "args", hook.args, where);
    r.Get(h, "env", hook.env, where);
    hook.env_set = h.is_object() && h.contains("env") && !h["env"].is_null();
    r.GetOpt(h, "timeout", hook.timeout, where);
    if (hook.path.empty() || hook.path[0] != '/') r.Fail(where + ": path must be absolute");
    if (hook.timeout && *hook.timeout <= 0) r.Fail(where + ": timeout must be positive");
    out.push_back(std::move(hook));
  }
  return out;
}

template <typename T>
void ParseDevList(Reader& r, const json& j, const char* key, std::vector<T>& out) {
  const json* list = r.Array(j, key, kMaxBlkioDevices, key);
  if (list == nullptr) return;
  for (const json& d : *list) {
    T t;
    r.Get(d, "major", t.major, key);
    r.Get(d, "minor", t.minor, key);
    if constexpr (std::is_same_v<T, ThrottleDevice>) {
      r.Get(d, "rate", t.rate, key);
    } else {
      r.GetOpt(d, "weight", t.weight, key);
    }
    out.push_back(t);
  }
}

Resources ParseResourcesJson(Reader& r, const json& j) {
  Resources res;
  if (const json* rules = r.Array(j, "devices", kMaxDeviceRules, "linux.resources.devices")) {
    for (const json& d : *rules) {
      DeviceRule rule;
      r.Get(d, "allow", rule.allow, "linux.resources.devices");
      r.Get(d, "type", rule.type, "linux.resources.devices");
      r.GetOpt(d, "major", rule.major, "linux.resources.devices");
      r.GetOpt(d, "minor", rule.minor, "linux.resources.devices");
      r.Get(d, "access", rule.access, "linux.resources.devices");
      res.devices.push_back(rule);
    }
  }
  if (j.contains("memory") && j["memory"].is_object()) {
    const json& m = j["memory"];
    r.GetOpt(m, "limit", res.memory_limit, "memory");
    r.GetOpt(m, "reservation", res.memory_reservation, "memory");
    r.GetOpt(m, "swap", res.memory_swap, "memory");
    // runtime-spec's swappiness is a uint64; Go callers write -1 as 2^64-1 ("leave as is").
    if (m.contains("swappiness") && m["swappiness"].is_number_unsigned() &&
        m["swappiness"].get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      res.memory_swappiness = -1;
    } else {
      r.GetOpt(m, "swappiness", res.memory_swappiness, "memory");
    }
  }
  if (j.contains("cpu") && j["cpu"].is_object()) {
    const json& c = j["cpu"];
    r.GetOpt(c, "shares", res.cpu_shares, "cpu");
    r.GetOpt(c, "quota", res.cpu_quota, "cpu");
    r.GetOpt(c, "period", res.cpu_period, "cpu");
    r.Get(c, "cpus", res.cpuset_cpus, "cpu");
    r.Get(c, "mems", res.cpuset_mems, "cpu");
  }
  if (j.contains("pids") && j["pids"].is_object()) {
    r.GetOpt(j["pids"], "limit", res.pids_limit, "pids");
  }
  if (j.contains("blockIO") && j["blockIO"].is_object()) {
    const json& b = j["blockIO"];
    r.GetOpt(b, "weight", res.blkio_weight, "blockIO");
    ParseDevList(r, b, "weightDevice", res.blkio_weight_device);
    ParseDevList(r, b, "throttleReadBpsDevice", res.blkio_read_bps);
    ParseDevList(r, b, "throttleWriteBpsDevice", res.blkio_write_bps);
    ParseDevList(r, b, "throttleReadIOPSDevice", res.blkio_read_iops);
    ParseDevList(r, b, "throttleWriteIOPSDevice", res.blkio_write_iops);
  }
  r.CapObject(j, "unified", kMaxEntries, "linux.resources.unified entries");
  r.Get(j, "unified", res.unified, "linux.resources");
  return res;
}

Seccomp ParseSeccompJson(Reader& r, const json& j) {
  Seccomp s;
  r.Get(j, "defaultAction", s.default_action, "linux.seccomp");
  r.GetOpt(j, "defaultErrnoRet", s.default_errno_ret, "linux.seccomp");
  r.Get(j, "architectures", s.architectures, "linux.seccomp");
  r.Get(j, "flags", s.flags, "linux.seccomp");
  if (s.default_action.empty()) r.Fail("linux.seccomp.defaultAction is required");
  if (const json* rules = r.Array(j, "syscalls", kMaxSeccompRules, "linux.seccomp.syscalls")) {
    for (const json& sc : *rules) {
      SyscallRule rule;
      r.Get(sc, "names", rule.names, "linux.seccomp.syscalls");
      r.Get(sc, "action", rule.action, "linux.seccomp.syscalls");
      r.GetOpt(sc, "errnoRet", rule.errno_ret, "linux.seccomp.syscalls");
      if (const json* args = r.Array(sc, "args", 6, "linux.seccomp.syscalls.args")) {
        for (const json& a : *args) {
          SyscallArg arg;
          r.Get(a, "index", arg.index, "linux.seccomp.syscalls.args");
          r.Get(a, "value", arg.value, "linux.seccomp.syscalls.args");
          r.Get(a, "valueTwo", arg.value_two, "linux.seccomp.syscalls.args");
          r.Get(a, "op", arg.op, "linux.seccomp.syscalls.args");
          rule.args.push_back(arg);
        }
      }
      if (rule.names.empty()) r.Fail("linux.seccomp.syscalls: names must not be empty");
      s.syscalls.push_back(std::move(rule));
    }
  }
  return s;
}

std::vector<IdMapping> ParseIdMappings(Reader& r, const json& j, const char* key) {
  std::vector<IdMapping> out;
  std::string where = std::string("linux.") + key;
  const json* list = r.Array(j, key, kMaxIdMappings, where);
  if (list == nullptr) return out;
  for (const json& m : *list) {
    IdMapping im;
    r.GetId(m, "containerID", im.container_id, where);
    r.GetId(m, "hostID", im.host_id, where);
    if (m.is_object() && m.contains("size") && !r.ToInteger(m["size"], im.size, 1, kMaxId + 1ull))
      r.Fail(where + ".size: " + m["size"].dump() + " is not in 1.." +
             std::to_string(kMaxId + 1ull));
    // The last id of each range must itself be a valid id.
    if (im.size == 0)
      r.Fail(where + ".size is required (1.." + std::to_string(kMaxId + 1ull) + ")");
    else if (static_cast<uint64_t>(im.container_id) + im.size - 1 > kMaxId ||
             static_cast<uint64_t>(im.host_id) + im.size - 1 > kMaxId)
      r.Fail(where + ": range " + std::to_string(im.container_id) + "/" +
             std::to_string(im.host_id) + " + " + std::to_string(im.size) + " goes past id " +
             std::to_string(kMaxId));
    out.push_back(im);
  }
  return out;
}

void ParseLinux(Reader& r, const json& l, Linux& out) {
  if (const json* list = r.Array(l, "namespaces", kMaxNamespaces, "linux.namespaces")) {
    std::set<std::string> seen;
    for (const json& n : *list) {
      Namespace ns;
      r.Get(n, "type", ns.type, "linux.namespaces");
      r.Get(n, "path", ns.path, "linux.namespaces");
      if (!kNamespaces.count(ns.type)) r.Fail("linux.namespaces: unknown type \"" + ns.type + "\"");
      if (!seen.insert(ns.type).second) r.Fail("linux.namespaces: duplicate " + ns.type);
      if (!ns.path.empty() && ns.path[0] != '/') r.Fail("linux.namespaces: path must be absolute");
      out.namespaces.push_back(ns);
    }
  }
  out.uid_mappings = ParseIdMappings(r, l, "uidMappings");
  out.gid_mappings = ParseIdMappings(r, l, "gidMappings");
  if (const json* list = r.Array(l, "devices", kMaxDevices, "linux.devices")) {
    for (const json& d : *list) {
      Device dev;
      r.Get(d, "path", dev.path, "linux.devices");
      r.Get(d, "type", dev.type, "linux.devices");
      r.Get(d, "major", dev.major, "linux.devices");
      r.Get(d, "minor", dev.minor, "linux.devices");
      r.GetOpt(d, "fileMode", dev.file_mode, "linux.devices");
      r.GetOptId(d, "uid", dev.uid, "linux.devices");
      r.GetOptId(d, "gid", dev.gid, "linux.devices");
      if (dev.path.empty() || dev.path[0] != '/') r.Fail("linux.devices: path must be absolute");
      if (dev.type != "c" && dev.type != "b" && dev.type != "u" && dev.type != "p")
        r.Fail("linux.devices: bad type \"" + dev.type + "\"");
      out.devices.push_back(dev);
    }
  }
  r.Get(l, "cgroupsPath", out.cgroups_path, "linux");
  if (l.contains("resources") && l["resources"].is_object())
    out.resources = ParseResourcesJson(r, l["resources"]);
  r.Get(l, "rootfsPropagation", out.rootfs_propagation, "linux");
  r.CapObject(l, "sysctl", kMaxEntries, "linux.sysctl entries");
  r.Get(l, "sysctl", out.sysctl, "linux");
  (void)r.Array(l, "maskedPaths", kMaxEntries, "linux.maskedPaths");
  r.Get(l, "maskedPaths", out.masked_paths, "linux");
  (void)r.Array(l, "readonlyPaths", kMaxEntries, "linux.readonlyPaths");
  r.Get(l, "readonlyPaths", out.readonly_paths, "linux");
  if (l.contains("seccomp") && l["seccomp"].is_object())
    out.seccomp = ParseSeccompJson(r, l["seccomp"]);
  if (l.contains("timeOffsets") && l["timeOffsets"].is_object()) {
    for (auto& [k, v] : l["timeOffsets"].items()) {
      int64_t secs = 0, nanos = 0;
      r.Get(v, "secs", secs, "linux.timeOffsets");
      r.Get(v, "nanosecs", nanos, "linux.timeOffsets");
      out.time_offsets[k] = {secs, nanos};
    }
  }
  if (!out.rootfs_propagation.empty() && !PropagationFlags(out.rootfs_propagation))
    r.Fail("linux.rootfsPropagation: unknown value " + out.rootfs_propagation);
}

Result<json> ParseJson(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument("malformed JSON");
  if (!j.is_object()) return Status::InvalidArgument("JSON document is not an object");
  return j;
}

}  // namespace

const Namespace* Spec::FindNamespace(const std::string& type) const {
  for (const auto& ns : linux.namespaces)
    if (ns.type == type) return &ns;
  return nullptr;
}

Result<Spec> ParseSpec(const std::string& json_text) {
  ASSIGN_OR_RETURN(json j, ParseJson(json_text));
  Reader r;
  Spec s;
  r.Get(j, "ociVersion", s.oci_version, "");
  if (s.oci_version.empty()) r.Fail("ociVersion is required");
  if (j.contains("root") && j["root"].is_object()) {
    r.Get(j["root"], "path", s.root_path, "root");
    r.Get(j["root"], "readonly", s.root_readonly, "root");
  }
  if (s.root_path.empty()) r.Fail("root.path is required");
  if (j.contains("process") && j["process"].is_object()) {
    s.process = ParseProcessJson(r, j["process"]);
  }
  r.Get(j, "hostname", s.hostname, "");
  r.Get(j, "domainname", s.domainname, "");
  if (const json* mounts = r.Array(j, "mounts", kMaxMounts, "mounts")) {
    for (const json& m : *mounts) {
      Mount mnt;
      r.Get(m, "destination", mnt.destination, "mounts");
      r.Get(m, "type", mnt.type, "mounts");
      r.Get(m, "source", mnt.source, "mounts");
      r.Get(m, "options", mnt.options, "mounts");
      if (mnt.destination.empty() || mnt.destination[0] != '/')
        r.Fail("mounts: destination must be absolute: \"" + mnt.destination + "\"");
      s.mounts.push_back(std::move(mnt));
    }
  }
  if (j.contains("hooks") && j["hooks"].is_object()) {
    const json& h = j["hooks"];
    s.hooks.prestart = ParseHooks(r, h, "prestart");
    s.hooks.create_runtime = ParseHooks(r, h, "createRuntime");
    s.hooks.create_container = ParseHooks(r, h, "createContainer");
    s.hooks.start_container = ParseHooks(r, h, "startContainer");
    s.hooks.poststart = ParseHooks(r, h, "poststart");
    s.hooks.poststop = ParseHooks(r, h, "poststop");
  }
  r.CapObject(j, "annotations", kMaxEntries, "annotations");
  r.Get(j, "annotations", s.annotations, "");
  if (j.contains("linux") && j["linux"].is_object()) ParseLinux(r, j["linux"], s.linux);
  if (!r.status.ok()) return r.status;
  const bool has_user = s.FindNamespace("user") != nullptr;
  if (!has_user && (!s.linux.uid_mappings.empty() || !s.linux.gid_mappings.empty()))
    return Status::InvalidArgument("uidMappings/gidMappings need a user namespace");
  if (!s.hostname.empty()) {
    const Namespace* uts = s.FindNamespace("uts");
    if (uts == nullptr) return Status::InvalidArgument("hostname needs a new uts namespace");
  }
  return s;
}

Result<Resources> ParseResources(const std::string& json_text) {
  ASSIGN_OR_RETURN(json j, ParseJson(json_text));
  Reader r;
  Resources res = ParseResourcesJson(r, j);
  if (!r.status.ok()) return r.status;
  return res;
}

Result<Process> ParseProcess(const std::string& json_text) {
  ASSIGN_OR_RETURN(json j, ParseJson(json_text));
  Reader r;
  Process p = ParseProcessJson(r, j);
  if (!r.status.ok()) return r.status;
  if (p.args.empty()) return Status::InvalidArgument("process.args must not be empty");
  return p;
}

Result<Spec> LoadBundleSpec(const std::string& bundle) {
  std::string path = bundle + "/config.json";
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, 16 << 20));
  return ParseBundleSpec(text, path);
}

Result<Spec> ParseBundleSpec(const std::string& text, const std::string& path) {
  Result<Spec> spec = ParseSpec(text);
  if (!spec.ok()) return spec.status().WithContext(path);
  if (!spec->process) return Status::InvalidArgument(path + ": process is required");
  if (spec->process->args.empty()) return Status::InvalidArgument(path + ": process.args is empty");
  return spec;
}

}  // namespace imgfs::runc
