#include "gpu-hooks/cdi_registry.h"

#include <dirent.h>

#include <algorithm>

#include "core/fd.h"
#include "gpu-hooks/yaml.h"

namespace imgfs::gpu {

Result<std::pair<std::string, std::string>> ParseQualifiedName(const std::string& q) {
  size_t eq = q.find('=');
  size_t slash = q.find('/');
  if (eq == std::string::npos || slash == std::string::npos || slash == 0 || slash + 1 >= eq ||
      eq + 1 == q.size()) {
    return Status::InvalidArgument("not a CDI device name (vendor.com/class=name): \"" + q + "\"");
  }
  return std::make_pair(q.substr(0, eq), q.substr(eq + 1));
}

Result<CdiSpec> ParseCdiSpec(std::string_view text) {
  size_t first = text.find_first_not_of(" \t\r\n");
  nlohmann::json j;
  if (first != std::string_view::npos && text[first] == '{') {
    j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded()) return Status::InvalidArgument("invalid JSON");
  } else {
    ASSIGN_OR_RETURN(j, ParseYaml(text));
  }
  return CdiSpecFromJson(j);
}

Result<CdiSpec> ReadCdiSpecFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, 16u << 20));
  auto spec = ParseCdiSpec(text);
  if (!spec.ok()) return spec.status().WithContext(path);
  return spec;
}

std::string CdiSpecToYaml(const CdiSpec& spec) { return "---\n" + EmitYaml(CdiSpecToJson(spec)); }

Status WriteCdiSpecFile(const std::string& path, const CdiSpec& spec) {
  bool yaml = path.ends_with(".yaml") || path.ends_with(".yml");
  std::string text = yaml ? CdiSpecToYaml(spec) : CdiSpecToJson(spec).dump(2) + "\n";
  return WriteFileAtomic(path, text, 0644);
}

void CdiRegistry::Add(CdiSpec spec, size_t priority, const std::string& origin) {
  specs_.push_back(std::make_unique<CdiSpec>(std::move(spec)));
  size_t index = specs_.size() - 1;
  for (const CdiDevice& d : specs_.back()->devices) {
    std::string name = specs_.back()->kind + "=" + d.name;
    auto it = devices_.find(name);
    if (it == devices_.end() || it->second.priority < priority) {
      devices_[name] = Entry{index, priority, false};
    } else if (it->second.priority == priority) {
      it->second.conflict = true;
      errors_.push_back(origin + ": device " + name +
                        " conflicts with another spec in the same directory");
    }
  }
}

Result<CdiRegistry> CdiRegistry::Load(const std::string& root,
                                      const std::vector<std::string>& dirs) {
  CdiRegistry reg;
  std::string prefix = root == "/" ? "" : root;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  for (size_t p = 0; p < dirs.size(); ++p) {
    std::string dir = prefix + dirs[p];
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
      if (errno != ENOENT)
        reg.errors_.push_back(Status::FromErrno(errno, "opendir " + dir).ToString());
      continue;
    }
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.ends_with(".json") || n.ends_with(".yaml") || n.ends_with(".yml")) names.push_back(n);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    for (const std::string& n : names) {
      std::string path = dir + "/" + n;
      auto spec = ReadCdiSpecFile(path);
      if (!spec.ok()) {
        reg.errors_.push_back(spec.status().ToString());
        continue;
      }
      reg.Add(std::move(*spec), p, path);
    }
  }
  return reg;
}

CdiRegistry CdiRegistry::FromSpecs(std::vector<CdiSpec> specs) {
  CdiRegistry reg;
  for (size_t i = 0; i < specs.size(); ++i)
    reg.Add(std::move(specs[i]), i, "spec " + std::to_string(i));
  return reg;
}

Result<CdiRegistry::Resolved> CdiRegistry::Find(const std::string& qualified_name) const {
  RETURN_IF_ERROR(ParseQualifiedName(qualified_name).status());
  auto it = devices_.find(qualified_name);
  if (it == devices_.end()) {
    return Status::NotFound("unresolvable CDI device " + qualified_name);
  }
  if (it->second.conflict) {
    return Status::AlreadyExists("CDI device " + qualified_name + " is defined by two specs");
  }
  const CdiSpec* spec = specs_[it->second.spec_index].get();
  std::string name = qualified_name.substr(qualified_name.find('=') + 1);
  return Resolved{spec, spec->FindDevice(name)};
}

std::vector<std::string> CdiRegistry::DeviceNames() const {
  std::vector<std::string> out;
  for (const auto& [name, e] : devices_) out.push_back(name);
  return out;
}

}  // namespace imgfs::gpu
