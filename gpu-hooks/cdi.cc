#include "gpu-hooks/cdi.h"

#include <algorithm>
#include <set>

namespace imgfs::gpu {
namespace {

using nlohmann::json;

const std::vector<std::string> kReadOnlyBind = {"ro", "nosuid", "nodev", "bind"};
const std::vector<std::string> kReadOnlyBindNoExec = {"ro", "nosuid", "nodev", "bind", "noexec"};

std::string Basename(const std::string& p) { return p.substr(p.rfind('/') + 1); }
std::string Dirname(const std::string& p) {
  size_t s = p.rfind('/');
  return s == 0 ? "/" : p.substr(0, s);
}

Result<std::vector<std::string>> StringList(const json& j, const char* key) {
  std::vector<std::string> out;
  if (!j.contains(key) || j[key].is_null()) return out;
  if (!j[key].is_array()) return Status::InvalidArgument(std::string(key) + " must be a list");
  for (const json& v : j[key]) {
    if (!v.is_string()) return Status::InvalidArgument(std::string(key) + " must hold strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

Result<std::string> OptString(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::string();
  if (!j[key].is_string()) return Status::InvalidArgument(std::string(key) + " must be a string");
  return j[key].get<std::string>();
}

Result<std::map<std::string, std::string>> StringMap(const json& j, const char* key) {
  std::map<std::string, std::string> out;
  if (!j.contains(key) || j[key].is_null()) return out;
  if (!j[key].is_object()) return Status::InvalidArgument(std::string(key) + " must be a map");
  for (auto& [k, v] : j[key].items()) {
    if (!v.is_string())
      return Status::InvalidArgument(std::string(key) + " values must be strings");
    out[k] = v.get<std::string>();
  }
  return out;
}

Result<std::optional<int64_t>> OptInt(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::optional<int64_t>();
  if (!j[key].is_number_integer())
    return Status::InvalidArgument(std::string(key) + " must be an integer");
  return std::optional<int64_t>(j[key].get<int64_t>());
}

}  // namespace

void CdiEdits::Merge(const CdiEdits& other) {
  for (const std::string& e : other.env) {
    if (std::find(env.begin(), env.end(), e) == env.end()) env.push_back(e);
  }
  for (const CdiDeviceNode& n : other.device_nodes) {
    if (std::none_of(device_nodes.begin(), device_nodes.end(),
                     [&](const CdiDeviceNode& x) { return x.path == n.path; })) {
      device_nodes.push_back(n);
    }
  }
  for (const CdiMount& m : other.mounts) {
    if (std::none_of(mounts.begin(), mounts.end(),
                     [&](const CdiMount& x) { return x.container_path == m.container_path; })) {
      mounts.push_back(m);
    }
  }
  for (const CdiHook& h : other.hooks) {
    if (std::find(hooks.begin(), hooks.end(), h) == hooks.end()) hooks.push_back(h);
  }
}

const CdiDevice* CdiSpec::FindDevice(const std::string& name) const {
  for (const CdiDevice& d : devices) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

json CdiEditsToJson(const CdiEdits& e) {
  json j = json::object();
  if (!e.env.empty()) j["env"] = e.env;
  if (!e.device_nodes.empty()) {
    json nodes = json::array();
    for (const CdiDeviceNode& n : e.device_nodes) {
      json o = {{"path", n.path}};
      if (!n.host_path.empty()) o["hostPath"] = n.host_path;
      if (!n.type.empty()) o["type"] = n.type;
      if (n.major >= 0) o["major"] = n.major;
      if (n.minor >= 0) o["minor"] = n.minor;
      if (n.file_mode) o["fileMode"] = *n.file_mode;
      if (!n.permissions.empty()) o["permissions"] = n.permissions;
      if (n.uid) o["uid"] = *n.uid;
      if (n.gid) o["gid"] = *n.gid;
      nodes.push_back(std::move(o));
    }
    j["deviceNodes"] = std::move(nodes);
  }
  if (!e.mounts.empty()) {
    json mounts = json::array();
    for (const CdiMount& m : e.mounts) {
      json o = {{"hostPath", m.host_path}, {"containerPath", m.container_path}};
      if (!m.type.empty()) o["type"] = m.type;
      if (!m.options.empty()) o["options"] = m.options;
      mounts.push_back(std::move(o));
    }
    j["mounts"] = std::move(mounts);
  }
  if (!e.hooks.empty()) {
    json hooks = json::array();
    for (const CdiHook& h : e.hooks) {
      json o = {{"hookName", h.hook_name}, {"path", h.path}};
      if (!h.args.empty()) o["args"] = h.args;
      if (!h.env.empty()) o["env"] = h.env;
      if (h.timeout) o["timeout"] = *h.timeout;
      hooks.push_back(std::move(o));
    }
    j["hooks"] = std::move(hooks);
  }
  return j;
}

Result<CdiEdits> CdiEditsFromJson(const json& j) {
  CdiEdits e;
  if (j.is_null()) return e;
  if (!j.is_object()) return Status::InvalidArgument("containerEdits must be a map");
  ASSIGN_OR_RETURN(e.env, StringList(j, "env"));
  if (j.contains("deviceNodes") && !j["deviceNodes"].is_null()) {
    if (!j["deviceNodes"].is_array()) return Status::InvalidArgument("deviceNodes must be a list");
    for (const json& o : j["deviceNodes"]) {
      if (!o.is_object()) return Status::InvalidArgument("deviceNodes entries must be maps");
      CdiDeviceNode n;
      n.type.clear();
      ASSIGN_OR_RETURN(n.path, OptString(o, "path"));
      if (!n.path.starts_with("/"))
        return Status::InvalidArgument("deviceNode path must be absolute");
      ASSIGN_OR_RETURN(n.host_path, OptString(o, "hostPath"));
      ASSIGN_OR_RETURN(n.type, OptString(o, "type"));
      if (!n.type.empty() && n.type != "c" && n.type != "b" && n.type != "u" && n.type != "p") {
        return Status::InvalidArgument("deviceNode " + n.path + ": bad type " + n.type);
      }
      ASSIGN_OR_RETURN(auto major, OptInt(o, "major"));
      ASSIGN_OR_RETURN(auto minor, OptInt(o, "minor"));
      ASSIGN_OR_RETURN(auto mode, OptInt(o, "fileMode"));
      ASSIGN_OR_RETURN(auto uid, OptInt(o, "uid"));
      ASSIGN_OR_RETURN(auto gid, OptInt(o, "gid"));
      n.major = major.value_or(-1);
      n.minor = minor.value_or(-1);
      if (mode) n.file_mode = static_cast<uint32_t>(*mode);
      if (uid) n.uid = static_cast<uint32_t>(*uid);
      if (gid) n.gid = static_cast<uint32_t>(*gid);
      ASSIGN_OR_RETURN(n.permissions, OptString(o, "permissions"));
      if (n.permissions.find_first_not_of("rwm") != std::string::npos) {
        return Status::InvalidArgument("deviceNode " + n.path + ": bad permissions " +
                                       n.permissions);
      }
      e.device_nodes.push_back(std::move(n));
    }
  }
  if (j.contains("mounts") && !j["mounts"].is_null()) {
    if (!j["mounts"].is_array()) return Status::InvalidArgument("mounts must be a list");
    for (const json& o : j["mounts"]) {
      if (!o.is_object()) return Status::InvalidArgument("mounts entries must be maps");
      CdiMount m;
      ASSIGN_OR_RETURN(m.host_path, OptString(o, "hostPath"));
      ASSIGN_OR_RETURN(m.container_path, OptString(o, "containerPath"));
      if (m.host_path.empty() || !m.container_path.starts_with("/")) {
        return Status::InvalidArgument("mount needs hostPath and an absolute containerPath");
      }
      ASSIGN_OR_RETURN(m.type, OptString(o, "type"));
      ASSIGN_OR_RETURN(m.options, StringList(o, "options"));
      e.mounts.push_back(std::move(m));
    }
  }
  if (j.contains("hooks") && !j["hooks"].is_null()) {
    if (!j["hooks"].is_array()) return Status::InvalidArgument("hooks must be a list");
    for (const json& o : j["hooks"]) {
      if (!o.is_object()) return Status::InvalidArgument("hooks entries must be maps");
      CdiHook h;
      ASSIGN_OR_RETURN(h.hook_name, OptString(o, "hookName"));
      ASSIGN_OR_RETURN(h.path, OptString(o, "path"));
      static const std::set<std::string> kPoints = {"prestart",        "createRuntime",
                                                    "createContainer", "startContainer",
                                                    "poststart",       "poststop"};
      if (!kPoints.count(h.hook_name))
        return Status::InvalidArgument("bad hookName " + h.hook_name);
      if (!h.path.starts_with("/")) return Status::InvalidArgument("hook path must be absolute");
      ASSIGN_OR_RETURN(h.args, StringList(o, "args"));
      ASSIGN_OR_RETURN(h.env, StringList(o, "env"));
      ASSIGN_OR_RETURN(auto timeout, OptInt(o, "timeout"));
      if (timeout) h.timeout = static_cast<int>(*timeout);
      e.hooks.push_back(std::move(h));
    }
  }
  return e;
}

json CdiSpecToJson(const CdiSpec& spec) {
  json j = {{"cdiVersion", spec.cdi_version}, {"kind", spec.kind}};
  if (!spec.annotations.empty()) j["annotations"] = spec.annotations;
  json devices = json::array();
  for (const CdiDevice& d : spec.devices) {
    json o = {{"name", d.name}};
    if (!d.annotations.empty()) o["annotations"] = d.annotations;
    o["containerEdits"] = CdiEditsToJson(d.edits);
    devices.push_back(std::move(o));
  }
  j["devices"] = std::move(devices);
  j["containerEdits"] = CdiEditsToJson(spec.edits);
  return j;
}

Result<CdiSpec> CdiSpecFromJson(const json& j) {
  if (!j.is_object()) return Status::InvalidArgument("CDI spec must be a map");
  CdiSpec spec;
  ASSIGN_OR_RETURN(spec.cdi_version, OptString(j, "cdiVersion"));
  if (spec.cdi_version.empty()) return Status::InvalidArgument("CDI spec: missing cdiVersion");
  ASSIGN_OR_RETURN(spec.kind, OptString(j, "kind"));
  size_t slash = spec.kind.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == spec.kind.size() ||
      spec.kind.find('=') != std::string::npos) {
    return Status::InvalidArgument("CDI spec: kind must be vendor/class, got \"" + spec.kind +
                                   "\"");
  }
  ASSIGN_OR_RETURN(spec.annotations, StringMap(j, "annotations"));
  if (!j.contains("devices") || !j["devices"].is_array()) {
    return Status::InvalidArgument("CDI spec: devices must be a list");
  }
  std::set<std::string> names;
  for (const json& o : j["devices"]) {
    if (!o.is_object()) return Status::InvalidArgument("CDI spec: devices entries must be maps");
    CdiDevice d;
    ASSIGN_OR_RETURN(d.name, OptString(o, "name"));
    if (d.name.empty() || d.name.find_first_of("=/ ") != std::string::npos) {
      return Status::InvalidArgument("CDI spec: bad device name \"" + d.name + "\"");
    }
    if (!names.insert(d.name).second) {
      return Status::InvalidArgument("CDI spec: device " + d.name + " defined twice");
    }
    ASSIGN_OR_RETURN(d.annotations, StringMap(o, "annotations"));
    auto edits = CdiEditsFromJson(o.contains("containerEdits") ? o["containerEdits"] : json());
    if (!edits.ok()) return edits.status().WithContext("device " + d.name);
    d.edits = std::move(*edits);
    spec.devices.push_back(std::move(d));
  }
  auto edits = CdiEditsFromJson(j.contains("containerEdits") ? j["containerEdits"] : json());
  if (!edits.ok()) return edits.status().WithContext("spec containerEdits");
  spec.edits = std::move(*edits);
  return spec;
}

Result<CdiSpec> GenerateNvidiaSpec(const DriverInfo& info, const GenerateOptions& options) {
  if (!options.hook_path.starts_with("/")) {
    return Status::InvalidArgument("hook path must be absolute: " + options.hook_path);
  }
  CdiSpec spec;
  spec.kind = kNvidiaGpuKind;
  if (!info.version.empty()) spec.annotations[kAnnotationDriverVersion] = info.version;
  if (!info.cuda_version.empty()) spec.annotations[kAnnotationCudaVersion] = info.cuda_version;

  auto node_of = [&](const DeviceNodeInfo& n) {
    CdiDeviceNode d;
    d.path = n.path;
    std::string host = info.HostPath(n.path);
    if (host != n.path) d.host_path = host;
    d.major = n.major;
    d.minor = n.minor;
    d.file_mode = n.mode;
    d.permissions = "rw";
    return d;
  };

  CdiDevice all{"all", {}, {}};
  std::vector<CdiDevice> by_uuid;
  for (const GpuInfo& gpu : info.gpus) {
    if (!gpu.node) continue;  // a GPU without a node cannot be given to a container
    CdiDevice d{std::to_string(gpu.index), {}, {}};
    if (!gpu.model.empty()) d.annotations[kAnnotationModel] = gpu.model;
    d.edits.device_nodes.push_back(node_of(*gpu.node));
    all.edits.device_nodes.push_back(node_of(*gpu.node));
    if (!gpu.uuid.empty()) {
      CdiDevice u = d;
      u.name = gpu.uuid;
      by_uuid.push_back(std::move(u));
    }
    spec.devices.push_back(std::move(d));
  }
  for (CdiDevice& d : by_uuid) spec.devices.push_back(std::move(d));
  if (!info.gpus.empty()) {
    std::set<std::string> models;
    for (const GpuInfo& g : info.gpus) models.insert(g.model);
    if (models.size() == 1 && !models.begin()->empty())
      all.annotations[kAnnotationModel] = *models.begin();
  }
  spec.devices.push_back(std::move(all));

  for (const DeviceNodeInfo& n : info.control_nodes) spec.edits.device_nodes.push_back(node_of(n));

  auto add_mount = [&](const std::string& path, const std::vector<std::string>& options) {
    spec.edits.mounts.push_back({info.HostPath(path), path, "", options});
  };
  std::vector<std::string> links;
  std::set<std::string> folders;
  for (const DriverFile& lib : info.libraries) {
    add_mount(lib.path, kReadOnlyBind);
    std::string dir = Dirname(lib.path), base = Basename(lib.path);
    folders.insert(dir);
    if (!lib.soname.empty() && lib.soname != base) {
      links.push_back("--link");
      links.push_back(base + "::" + dir + "/" + lib.soname);
    }
    if (base.starts_with("libcuda.so.") && !lib.soname.empty()) {
      links.push_back("--link");
      links.push_back(lib.soname + "::" + dir + "/libcuda.so");
    }
  }
  for (const DriverFile& bin : info.binaries) add_mount(bin.path, kReadOnlyBind);
  for (const std::string& fw : info.firmware) add_mount(fw, kReadOnlyBind);
  for (const DriverFile& ipc : info.ipc) add_mount(ipc.path, kReadOnlyBindNoExec);

  if (!info.libraries.empty()) {
    CdiHook hook;
    hook.hook_name = "createContainer";
    hook.path = options.hook_path;
    hook.args = {"imgfs-gpu-hook"};
    hook.args.insert(hook.args.end(), links.begin(), links.end());
    for (const std::string& f : folders) {
      hook.args.push_back("--folder");
      hook.args.push_back(f);
    }
    hook.env = {kHookPathEnv};
    spec.edits.hooks.push_back(std::move(hook));
  }
  // The devices come from CDI, so the legacy NVIDIA hook of an image must not inject again.
  spec.edits.env.push_back("NVIDIA_VISIBLE_DEVICES=void");
  return spec;
}

}  // namespace imgfs::gpu
