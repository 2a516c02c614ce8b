#include "runc-lite/spec.h"

#include <set>

#include <nlohmann/json.hpp>

#include "core/fd.h"

namespace imgfs::runc {
namespace {

using nlohmann::json;

// Typed accessors: a wrong type is an error naming the field, a missing field leaves OUT alone.
struct Reader {
  Status status;
  void Fail(const std::string& what) {
    if (status.ok()) status = Status::InvalidArgument(what);
  }
  template <typename T>
  void Get(const json& j, const char* key, T& out, const std::string& where) {
    if (!j.is_object() || !j.contains(key) || j[key].is_null()) return;
    try {
      out = j[key].get<T>();
    } catch (const json::exception& e) {
      Fail(where + "." + key + ": " + e.what());
    }
  }
  template <typename T>
  void GetOpt(const json& j, const char* key, std::optional<T>& out, const std::string& where) {
    if (!j.is_object() || !j.contains(key) || j[key].is_null()) return;
    T v{};
    Get(j, key, v, where);
    out = v;
  }
};

const std::set<std::string> kNamespaces = {"pid", "network", "mount", "ipc",
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
    r.Get(u, "uid", out.user.uid, "process.user");
    r.Get(u, "gid", out.user.gid, "process.user");
    r.GetOpt(u, "umask", out.user.umask, "process.user");
    r.Get(u, "additionalGids", out.user.additional_gids, "process.user");
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
  if (p.contains("rlimits") && p["rlimits"].is_array()) {
    for (const json& l : p["rlimits"]) {
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
  if (!j.contains(key) || !j[key].is_array()) return out;
  for (const json& h : j[key]) {
    Hook hook;
    std::string where = std::string("hooks.") + key;
    r.Get(h, "path", hook.path, where);
    r.Get(h, "args", hook.args, where);
    r.Get(h, "env", hook.env, where);
    r.GetOpt(h, "timeout", hook.timeout, where);
    if (hook.path.empty() || hook.path[0] != '/') r.Fail(where + ": path must be absolute");
    if (hook.timeout && *hook.timeout <= 0) r.Fail(where + ": timeout must be positive");
    out.push_back(std::move(hook));
  }
  return out;
}

template <typename T>
void ParseDevList(Reader& r, const json& j, const char* key, std::vector<T>& out) {
  if (!j.contains(key) || !j[key].is_array()) return;
  for (const json& d : j[key]) {
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
  if (j.contains("devices") && j["devices"].is_array()) {
    for (const json& d : j["devices"]) {
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
    r.GetOpt(m, "swappiness", res.memory_swappiness, "memory");
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
  if (j.contains("syscalls") && j["syscalls"].is_array()) {
    for (const json& sc : j["syscalls"]) {
      SyscallRule rule;
      r.Get(sc, "names", rule.names, "linux.seccomp.syscalls");
      r.Get(sc, "action", rule.action, "linux.seccomp.syscalls");
      r.GetOpt(sc, "errnoRet", rule.errno_ret, "linux.seccomp.syscalls");
      if (sc.contains("args") && sc["args"].is_array()) {
        for (const json& a : sc["args"]) {
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
  if (!j.contains(key) || !j[key].is_array()) return out;
  for (const json& m : j[key]) {
    IdMapping im;
    r.Get(m, "containerID", im.container_id, key);
    r.Get(m, "hostID", im.host_id, key);
    r.Get(m, "size", im.size, key);
    out.push_back(im);
  }
  return out;
}

void ParseLinux(Reader& r, const json& l, Linux& out) {
  if (l.contains("namespaces") && l["namespaces"].is_array()) {
    std::set<std::string> seen;
    for (const json& n : l["namespaces"]) {
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
  if (l.contains("devices") && l["devices"].is_array()) {
    for (const json& d : l["devices"]) {
      Device dev;
      r.Get(d, "path", dev.path, "linux.devices");
      r.Get(d, "type", dev.type, "linux.devices");
      r.Get(d, "major", dev.major, "linux.devices");
      r.Get(d, "minor", dev.minor, "linux.devices");
      r.GetOpt(d, "fileMode", dev.file_mode, "linux.devices");
      r.GetOpt(d, "uid", dev.uid, "linux.devices");
      r.GetOpt(d, "gid", dev.gid, "linux.devices");
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
  r.Get(l, "sysctl", out.sysctl, "linux");
  r.Get(l, "maskedPaths", out.masked_paths, "linux");
  r.Get(l, "readonlyPaths", out.readonly_paths, "linux");
  if (l.contains("seccomp") && l["seccomp"].is_object()) out.seccomp = ParseSeccompJson(r, l["seccomp"]);
  if (l.contains("timeOffsets") && l["timeOffsets"].is_object()) {
    for (auto& [k, v] : l["timeOffsets"].items()) {
      int64_t secs = 0, nanos = 0;
      r.Get(v, "secs", secs, "linux.timeOffsets");
      r.Get(v, "nanosecs", nanos, "linux.timeOffsets");
      out.time_offsets[k] = {secs, nanos};
    }
  }
  static const std::set<std::string> kProp = {"", "private", "rprivate", "shared", "rshared",
                                              "slave", "rslave", "unbindable", "runbindable"};
  if (!kProp.count(out.rootfs_propagation))
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
  if (j.contains("mounts") && j["mounts"].is_array()) {
    for (const json& m : j["mounts"]) {
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
