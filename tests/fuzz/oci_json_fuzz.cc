// Fuzzes the OCI image-spec parsers (image index, manifest, config): any bytes are refused with a
// Status or parse into values whose invariants the parsers promise (sha256 digests, sizes >= 0).
// The first byte picks the parser.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/oci_image.h"

namespace oci = imgfs::oci;

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

void CheckDescriptor(const oci::Descriptor& d) {
  Check(d.size >= 0);
  Check(d.digest.ToString().starts_with("sha256:"));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view json(reinterpret_cast<const char*>(data) + 1, size - 1);
  constexpr size_t kMax = 1 << 20;
  switch (data[0] % 4) {
    case 0:
      if (auto index = oci::ParseIndex(json, kMax); index.ok()) {
        for (const oci::Descriptor& d : index->manifests) CheckDescriptor(d);
      }
      break;
    case 1:
      if (auto manifest = oci::ParseManifest(json, kMax); manifest.ok()) {
        CheckDescriptor(manifest->config);
        for (const oci::Descriptor& d : manifest->layers) {
          CheckDescriptor(d);
          (void)oci::LayerCompression(d.media_type);
        }
      }
      break;
    case 2:
      (void)oci::ParseConfig(json, kMax);
      break;
    case 3:
      if (auto p = oci::Platform::Parse(json); p.ok()) (void)p->Matches(*p);
      break;
  }
  return 0;
}
