// Fuzzes what gpu-hooks reads from the host and from images: CDI spec files (JSON or the YAML
// subset) and the binary ld.so.cache. The first byte picks the parser. Must never crash or hang.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "gpu-hooks/cdi_registry.h"
#include "gpu-hooks/ld_cache.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if (data[0] & 1) {
    (void)imgfs::gpu::ParseLdCache(std::span<const uint8_t>(data + 1, size - 1));
  } else {
    (void)imgfs::gpu::ParseCdiSpec(
        std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  }
  return 0;
}
