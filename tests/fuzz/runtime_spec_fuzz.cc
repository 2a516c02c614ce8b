// Fuzzes runc-lite's reading of a bundle's config.json (the OCI runtime spec), the JSON a
// container's creator controls: any bytes are refused with a Status or give a Spec. Must never
// crash, hang or throw.
#include <cstddef>
#include <cstdint>
#include <string>

#include "runc-lite/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  (void)imgfs::runc::ParseSpec(text);
  (void)imgfs::runc::ParseProcess(text);
  (void)imgfs::runc::ParseResources(text);
  return 0;
}
