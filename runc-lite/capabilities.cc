#include "runc-lite/capabilities.h"

#include <sys/capability.h>

#include <algorithm>
#include <cctype>

namespace imgfs::runc {

uint64_t CapabilityMask(const std::vector<std::string>& names, std::vector<std::string>* skipped) {
  uint64_t mask = 0;
  const int last = static_cast<int>(cap_max_bits()) - 1;
  for (const std::string& name : names) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    cap_value_t v;
    if (cap_from_name(lower.c_str(), &v) != 0 || v > last || v > 63) {
      if (skipped) skipped->push_back(name);
      continue;
    }
    mask |= 1ULL << v;
  }
  return mask;
}

std::string CapabilityName(int cap) {
  char* name = cap_to_name(static_cast<cap_value_t>(cap));
  std::string s = name ? name : "cap_" + std::to_string(cap);
  if (name) cap_free(name);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

std::vector<std::string> KnownCapabilities() {
  std::vector<std::string> out;
  const int last = static_cast<int>(cap_max_bits()) - 1;
  for (int v = 0; v <= last; ++v) {
    char* name = cap_to_name(v);
    if (name == nullptr) continue;
    std::string s = name;
    cap_free(name);
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
    out.push_back(s);
  }
  return out;
}

}  // namespace imgfs::runc
