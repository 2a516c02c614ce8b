// The CDI specs installed on a host, indexed by fully qualified device name
// ("nvidia.com/gpu=0"). Load once, then read from any thread (immutable after Load).
//
// Directories are read in order, ROOT-relative: /etc/cdi (static), then /var/run/cdi (dynamic);
// files *.json, *.yaml, *.yml in lexical order. As the CDI spec defines, a device in a later
// directory overrides the same name from an earlier one; two specs in the same directory that
// define the same device make that device a conflict, refused when requested. Files that fail to
// parse are skipped and reported in errors() (one bad vendor file must not hide the others).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "gpu-hooks/cdi.h"

namespace imgfs::gpu {

inline const std::vector<std::string>& DefaultCdiSpecDirs() {
  static const std::vector<std::string> kDirs = {"/etc/cdi", "/var/run/cdi"};
  return kDirs;
}

// Splits "vendor.com/class=name" into kind and name; kInvalidArgument otherwise.
Result<std::pair<std::string, std::string>> ParseQualifiedName(const std::string& qualified);

// Parses one spec: JSON when the text starts with '{', else the YAML subset of yaml.h.
Result<CdiSpec> ParseCdiSpec(std::string_view text);
// Reads and parses one spec file (at most 16 MiB).
Result<CdiSpec> ReadCdiSpecFile(const std::string& path);
// Writes SPEC as JSON, or YAML when PATH ends in .yaml/.yml, atomically.
Status WriteCdiSpecFile(const std::string& path, const CdiSpec& spec);
std::string CdiSpecToYaml(const CdiSpec& spec);

class CdiRegistry {
 public:
  CdiRegistry() = default;

  static Result<CdiRegistry> Load(const std::string& root = "/",
                                  const std::vector<std::string>& dirs = DefaultCdiSpecDirs());
  // SPECS in priority order (later wins), each as if from its own directory.
  static CdiRegistry FromSpecs(std::vector<CdiSpec> specs);

  struct Resolved {
    const CdiSpec* spec;
    const CdiDevice* device;
  };
  // kNotFound for an unknown device, kAlreadyExists for a conflicting one.
  Result<Resolved> Find(const std::string& qualified_name) const;
  // Every qualified device name, sorted.
  std::vector<std::string> DeviceNames() const;
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  struct Entry {
    size_t spec_index;
    size_t priority;
    bool conflict = false;
  };
  void Add(CdiSpec spec, size_t priority, const std::string& origin);

  std::vector<std::unique_ptr<CdiSpec>> specs_;
  std::map<std::string, Entry> devices_;
  std::vector<std::string> errors_;
};

}  // namespace imgfs::gpu
