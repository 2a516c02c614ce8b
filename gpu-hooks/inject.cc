#include "gpu-hooks/inject.h"

#include "gpu-hooks/apply.h"
#include "gpu-hooks/cdi_registry.h"
#include "gpu-hooks/request.h"

namespace imgfs::gpu {

Result<InjectResult> InjectGpus(nlohmann::json& config, const std::string& root) {
  InjectResult out;
  ASSIGN_OR_RETURN(GpuRequest req, GpuRequestFromConfig(config));
  if (req.empty()) return out;
  out.requested = true;
  ASSIGN_OR_RETURN(CdiRegistry reg, CdiRegistry::Load(root));
  auto edits = ResolveGpuRequest(req, reg);
  if (!edits.ok()) {
    Status s = edits.status();
    for (const std::string& e : reg.errors()) s = s.WithContext("(skipped spec: " + e + ")");
    return s;
  }
  RETURN_IF_ERROR(ApplyToSpec(config, *edits));
  out.device_nodes = edits->device_nodes.size();
  out.mounts = edits->mounts.size();
  out.hooks = edits->hooks.size();
  return out;
}

}  // namespace imgfs::gpu
