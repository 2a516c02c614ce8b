#include "gpu-hooks/request.h"

#include <algorithm>
#include <cctype>

namespace imgfs::gpu {
namespace {

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string_view::npos) end = s.size();
    std::string_view part = s.substr(start, end - start);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (!part.empty()) out.emplace_back(part);
    start = end + 1;
  }
  return out;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Basename(const std::string& p) { return p.substr(p.rfind('/') + 1); }

// Evaluates one "key<op>value" term.
Result<bool> EvalTerm(const std::string& term, const DriverFacts& facts) {
  static const char* kOps[] = {">=", "<=", "!=", "==", "=", ">", "<"};
  size_t at = std::string::npos;
  std::string op;
  for (const char* o : kOps) {
    size_t p = term.find(o);
    if (p != std::string::npos && p > 0 &&
        (at == std::string::npos || p < at || (p == at && std::string(o).size() > op.size()))) {
      at = p;
      op = o;
    }
  }
  if (at == std::string::npos)
    return Status::InvalidArgument("bad requirement term \"" + term + "\"");
  std::string key = Lower(term.substr(0, at)), value = term.substr(at + op.size());
  if (key == "brand") {
    bool any = std::any_of(facts.models.begin(), facts.models.end(), [&](const std::string& m) {
      return Lower(m).find(Lower(value)) != std::string::npos;
    });
    return op == "!=" ? !any : any;
  }
  const std::string* have = nullptr;
  if (key == "cuda")
    have = &facts.cuda_version;
  else if (key == "driver")
    have = &facts.driver_version;
  else if (key == "arch")
    return true;  // compute capability is unknown without NVML: not enforced
  else
    return Status::InvalidArgument("unknown requirement \"" + key + "\" in \"" + term + "\"");
  if (have->empty()) {
    return Status::InvalidArgument("cannot check \"" + term + "\": the CDI spec records no " + key +
                                   " version (regenerate it with imgfs-gpu cdi generate)");
  }
  int c = CompareVersions(*have, value);
  if (op == ">=") return c >= 0;
  if (op == "<=") return c <= 0;
  if (op == ">") return c > 0;
  if (op == "<") return c < 0;
  if (op == "!=") return c != 0;
  return c == 0;
}

// One "utility" / "compute" ... decision for a driver file mounted at PATH.
bool Wanted(const std::string& path, const std::set<Capability>& caps) {
  std::string base = Basename(path);
  if (auto c = ClassifyDriverFile(base)) return caps.count(*c) > 0;
  if (path.starts_with("/lib/firmware/nvidia/")) return true;  // needed by every GSP driver
  if (path == "/run/nvidia-persistenced/socket") return caps.count(Capability::kUtility) > 0;
  if (path == "/tmp/nvidia-mps") return caps.count(Capability::kCompute) > 0;
  return true;  // not ours to judge
}

void FilterByCapabilities(CdiEdits& edits, const std::set<Capability>& caps) {
  std::erase_if(edits.mounts, [&](const CdiMount& m) { return !Wanted(m.container_path, caps); });
  for (CdiHook& h : edits.hooks) {
    std::vector<std::string> args;
    for (size_t i = 0; i < h.args.size(); ++i) {
      if (h.args[i] == "--link" && i + 1 < h.args.size()) {
        const std::string& spec = h.args[i + 1];
        std::string link =
            spec.substr(spec.find("::") == std::string::npos ? 0 : spec.find("::") + 2);
        if (!Wanted(link, caps)) {
          ++i;
          continue;
        }
      }
      args.push_back(h.args[i]);
    }
    h.args = std::move(args);
  }
}

std::string Have(const CdiRegistry& reg, const std::string& kind) {
  std::string out;
  for (const std::string& n : reg.DeviceNames()) {
    if (!n.starts_with(kind + "=")) continue;
    out += (out.empty() ? "" : ", ") + n.substr(kind.size() + 1);
  }
  return out.empty() ? "no " + kind + " devices; run imgfs-gpu cdi generate" : "have " + out;
}

}  // namespace

bool GpuRequest::empty() const {
  if (!cdi_devices.empty()) return false;
  if (!visible_devices) return true;
  std::string v = Lower(*visible_devices);
  return v.empty() || v == "void";
}

Result<GpuRequest> GpuRequestFromConfig(const nlohmann::json& config) {
  GpuRequest req;
  if (!config.is_object()) return Status::InvalidArgument("OCI config must be an object");
  if (config.contains("process") && config["process"].is_object() &&
      config["process"].contains("env")) {
    const auto& env = config["process"]["env"];
    if (!env.is_array()) return Status::InvalidArgument("process.env must be a list");
    std::optional<std::string> cuda_version, require_cuda;
    for (const auto& e : env) {
      if (!e.is_string()) return Status::InvalidArgument("process.env must hold strings");
      const std::string& kv = e.get_ref<const std::string&>();
      size_t eq = kv.find('=');
      if (eq == std::string::npos) continue;
      std::string key = kv.substr(0, eq), value = kv.substr(eq + 1);
      // Later duplicates win, as for execve's getenv in the container.
      if (key == "NVIDIA_VISIBLE_DEVICES")
        req.visible_devices = value;
      else if (key == "NVIDIA_DRIVER_CAPABILITIES")
        req.driver_capabilities = value;
      else if (key == "NVIDIA_DISABLE_REQUIRE")
        req.disable_require = Lower(value) == "true" || value == "1";
      else if (key == "NVIDIA_REQUIRE_CUDA")
        require_cuda = value;
      else if (key == "CUDA_VERSION")
        cuda_version = value;
      else if (key.starts_with("NVIDIA_REQUIRE_"))
        req.requirements.push_back(value);
    }
    if (require_cuda) {
      req.requirements.push_back(*require_cuda);
    } else if (cuda_version) {
      auto parts = Split(*cuda_version, '.');
      if (parts.size() >= 2) req.requirements.push_back("cuda>=" + parts[0] + "." + parts[1]);
    }
  }
  if (config.contains("annotations") && config["annotations"].is_object()) {
    for (auto& [key, value] : config["annotations"].items()) {
      if (!key.starts_with("cdi.k8s.io/") || !value.is_string()) continue;
      for (const std::string& name : Split(value.get<std::string>(), ',')) {
        RETURN_IF_ERROR(ParseQualifiedName(name).status().WithContext("annotation " + key));
        req.cdi_devices.push_back(name);
      }
    }
  }
  return req;
}

Result<std::set<Capability>> ParseCapabilities(const std::optional<std::string>& value) {
  std::set<Capability> caps;
  if (!value || value->empty())
    return std::set<Capability>{Capability::kUtility, Capability::kCompute};
  for (const std::string& name : Split(*value, ',')) {
    if (Lower(name) == "all") {
      return std::set<Capability>{Capability::kUtility, Capability::kCompute, Capability::kVideo,
                                  Capability::kGraphics, Capability::kDisplay};
    }
    auto c = ParseCapability(Lower(name));
    if (!c) {
      if (name == "compat32" || name == "ngx") continue;  // accepted, not injected yet
      return Status::InvalidArgument("NVIDIA_DRIVER_CAPABILITIES: unknown capability \"" + name +
                                     "\"");
    }
    caps.insert(*c);
  }
  return caps;
}

Status CheckRequirements(const std::vector<std::string>& requirements, const DriverFacts& facts) {
  for (const std::string& req : requirements) {
    std::vector<std::string> alternatives = Split(req, ' ');
    if (alternatives.empty()) continue;
    bool satisfied = false;
    std::string first_failure;
    for (const std::string& alt : alternatives) {
      bool all = true;
      for (const std::string& term : Split(alt, ',')) {
        ASSIGN_OR_RETURN(bool ok, EvalTerm(term, facts));
        if (!ok) {
          if (first_failure.empty()) first_failure = term;
          all = false;
          break;
        }
      }
      if (all) {
        satisfied = true;
        break;
      }
    }
    if (!satisfied) {
      return Status::InvalidArgument(
          "unsatisfied condition: " + first_failure + " (driver " +
          (facts.driver_version.empty() ? "unknown" : facts.driver_version) + " supports CUDA " +
          (facts.cuda_version.empty() ? "unknown" : facts.cuda_version) +
          "; set NVIDIA_DISABLE_REQUIRE=true to skip the check)");
    }
  }
  return Status::Ok();
}

Result<CdiEdits> ResolveGpuRequest(const GpuRequest& req, const CdiRegistry& reg) {
  CdiEdits edits;
  if (req.empty()) return edits;

  // Qualified names to apply, and whether each came from NVIDIA_VISIBLE_DEVICES.
  std::vector<std::string> names = req.cdi_devices;
  size_t first_env_name = names.size();
  bool none = false;
  if (req.visible_devices) {
    std::string v = Lower(*req.visible_devices);
    if (v == "none") {
      none = true;
    } else if (!v.empty() && v != "void") {
      for (const std::string& item : Split(*req.visible_devices, ',')) {
        if (item.find('=') != std::string::npos) {
          RETURN_IF_ERROR(ParseQualifiedName(item).status().WithContext("NVIDIA_VISIBLE_DEVICES"));
          names.push_back(item);
        } else if (item.find(':') != std::string::npos && !item.starts_with("GPU-")) {
          return Status::Unimplemented("NVIDIA_VISIBLE_DEVICES: MIG device " + item +
                                       " is not supported");
        } else {
          names.push_back(std::string(kNvidiaGpuKind) + "=" +
                          (Lower(item) == "all" ? "all" : item));
        }
      }
    }
  }
  std::set<Capability> caps;
  if (req.visible_devices) {
    ASSIGN_OR_RETURN(caps, ParseCapabilities(req.driver_capabilities));
  }

  std::vector<const CdiSpec*> specs_used;
  DriverFacts facts;
  auto use_spec = [&](const CdiSpec* spec) {
    if (std::find(specs_used.begin(), specs_used.end(), spec) == specs_used.end()) {
      specs_used.push_back(spec);
    }
  };
  std::vector<std::pair<CdiEdits, bool>> device_edits;  // edits, from env
  for (size_t i = 0; i < names.size(); ++i) {
    auto found = reg.Find(names[i]);
    if (!found.ok()) {
      bool from_env = i >= first_env_name;
      std::string kind = names[i].substr(0, names[i].find('='));
      std::string shown = from_env && names[i].starts_with(std::string(kNvidiaGpuKind) + "=")
                              ? "GPU " + names[i].substr(names[i].find('=') + 1)
                              : names[i];
      return Status(found.status())
          .WithContext(std::string(from_env ? "NVIDIA_VISIBLE_DEVICES" : "CDI device") + ": " +
                       (found.status().code() == Code::kNotFound
                            ? "unknown " + shown + " (" + Have(reg, kind) + ")"
                            : shown));
    }
    use_spec(found->spec);
    auto model = found->device->annotations.find(kAnnotationModel);
    if (model != found->device->annotations.end()) facts.models.push_back(model->second);
    device_edits.emplace_back(found->device->edits, i >= first_env_name);
  }
  if (none) {
    auto found = reg.Find(std::string(kNvidiaGpuKind) + "=all");
    if (!found.ok()) {
      return Status::NotFound("NVIDIA_VISIBLE_DEVICES=none: no " + std::string(kNvidiaGpuKind) +
                              " CDI spec (run imgfs-gpu cdi generate)");
    }
    use_spec(found->spec);
  }

  if (!req.disable_require && !req.requirements.empty()) {
    for (const CdiSpec* spec : specs_used) {
      if (spec->kind != kNvidiaGpuKind) continue;
      auto a = spec->annotations.find(kAnnotationDriverVersion);
      auto b = spec->annotations.find(kAnnotationCudaVersion);
      if (a != spec->annotations.end()) facts.driver_version = a->second;
      if (b != spec->annotations.end()) facts.cuda_version = b->second;
    }
    RETURN_IF_ERROR(CheckRequirements(req.requirements, facts));
  }

  bool any_env = req.visible_devices && (none || first_env_name < names.size());
  bool any_cdi = first_env_name > 0;
  for (const CdiSpec* spec : specs_used) {
    CdiEdits common = spec->edits;
    // Spec-level edits reached only through NVIDIA_VISIBLE_DEVICES follow the capabilities.
    if (any_env && !any_cdi && spec->kind == kNvidiaGpuKind) FilterByCapabilities(common, caps);
    edits.Merge(common);
  }
  for (auto& [e, from_env] : device_edits) {
    if (from_env) FilterByCapabilities(e, caps);
    edits.Merge(e);
  }
  return edits;
}

}  // namespace imgfs::gpu
