#include "gpu-hooks/apply.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

namespace imgfs::gpu {
namespace {

using nlohmann::json;

json& Child(json& parent, const char* key, json init) {
  if (!parent.contains(key) || parent[key].is_null()) parent[key] = std::move(init);
  return parent[key];
}

Status ExpectKind(const json& j, bool array, const char* what) {
  if (array ? j.is_array() : j.is_object()) return Status::Ok();
  return Status::InvalidArgument(std::string("OCI config: ") + what + " must be " +
                                 (array ? "a list" : "an object"));
}

Status FillFromHost(CdiDeviceNode& n) {
  const std::string& host = n.host_path.empty() ? n.path : n.host_path;
  struct stat st;
  if (::stat(host.c_str(), &st) != 0) return Status::FromErrno(errno, "device node " + host);
  if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) {
    return Status::InvalidArgument("device node " + host + " is not a device");
  }
  if (n.type.empty()) n.type = S_ISCHR(st.st_mode) ? "c" : "b";
  n.major = ::major(st.st_rdev);
  n.minor = ::minor(st.st_rdev);
  if (!n.file_mode) n.file_mode = st.st_mode & 07777;
  return Status::Ok();
}

}  // namespace

Status ApplyToSpec(json& config, const CdiEdits& edits) {
  if (!config.is_object()) return Status::InvalidArgument("OCI config must be an object");
  if (edits.empty()) return Status::Ok();

  if (!edits.env.empty()) {
    json& process = Child(config, "process", json::object());
    RETURN_IF_ERROR(ExpectKind(process, false, "process"));
    json& env = Child(process, "env", json::array());
    RETURN_IF_ERROR(ExpectKind(env, true, "process.env"));
    for (const std::string& kv : edits.env) {
      std::string key = kv.substr(0, kv.find('=') + 1);
      bool replaced = false;
      for (json& e : env) {
        if (e.is_string() && e.get_ref<const std::string&>().starts_with(key)) {
          e = kv;
          replaced = true;
        }
      }
      if (!replaced) env.push_back(kv);
    }
  }

  if (!edits.device_nodes.empty()) {
    json& linux_ = Child(config, "linux", json::object());
    RETURN_IF_ERROR(ExpectKind(linux_, false, "linux"));
    json& devices = Child(linux_, "devices", json::array());
    RETURN_IF_ERROR(ExpectKind(devices, true, "linux.devices"));
    json& resources = Child(linux_, "resources", json::object());
    RETURN_IF_ERROR(ExpectKind(resources, false, "linux.resources"));
    json& rules = Child(resources, "devices", json::array());
    RETURN_IF_ERROR(ExpectKind(rules, true, "linux.resources.devices"));
    for (CdiDeviceNode n : edits.device_nodes) {
      if (n.major < 0 || n.minor < 0 || n.type.empty()) RETURN_IF_ERROR(FillFromHost(n));
      if (n.type == "p") return Status::Unimplemented("fifo device nodes: " + n.path);
      json d = {{"path", n.path}, {"type", n.type}, {"major", n.major}, {"minor", n.minor}};
      d["fileMode"] = n.file_mode.value_or(0666);
      d["uid"] = n.uid.value_or(0);
      d["gid"] = n.gid.value_or(0);
      bool replaced = false;
      for (json& existing : devices) {
        if (existing.is_object() && existing.value("path", "") == n.path) {
          existing = d;
          replaced = true;
        }
      }
      if (!replaced) devices.push_back(d);
      rules.push_back({{"allow", true},
                       {"type", n.type == "u" ? "c" : n.type},
                       {"major", n.major},
                       {"minor", n.minor},
                       {"access", n.permissions.empty() ? "rwm" : n.permissions}});
    }
  }

  if (!edits.mounts.empty()) {
    json& mounts = Child(config, "mounts", json::array());
    RETURN_IF_ERROR(ExpectKind(mounts, true, "mounts"));
    for (const CdiMount& m : edits.mounts) {
      std::vector<std::string> options = m.options;
      if (options.empty()) options = {"ro", "nosuid", "nodev", "bind"};
      mounts.push_back({{"destination", m.container_path},
                        {"source", m.host_path},
                        {"type", m.type.empty() ? "bind" : m.type},
                        {"options", options}});
    }
  }

  if (!edits.hooks.empty()) {
    json& hooks = Child(config, "hooks", json::object());
    RETURN_IF_ERROR(ExpectKind(hooks, false, "hooks"));
    for (const CdiHook& h : edits.hooks) {
      json& list = Child(hooks, h.hook_name.c_str(), json::array());
      RETURN_IF_ERROR(ExpectKind(list, true, "hooks entry"));
      json o = {{"path", h.path}, {"args", h.args}, {"env", json::array({kHookPathEnv})}};
      if (h.timeout) o["timeout"] = *h.timeout;
      list.push_back(std::move(o));
    }
  }
  return Status::Ok();
}

}  // namespace imgfs::gpu
