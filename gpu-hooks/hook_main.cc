// imgfs-gpu-hook: the OCI createContainer hook named by the nvidia.com/gpu CDI spec.
//   imgfs-gpu-hook [--link TARGET::LINK]... [--folder DIR]... [--no-ldconfig] < OCI-state-JSON
//   imgfs-gpu-hook --rootfs DIR ...        (manual use and tests: no state on stdin)
// Reads no environment variable. Exit 0 on success (warnings on stderr), 1 on error.
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "core/fd.h"
#include "core/version.h"
#include "gpu-hooks/container_hook.h"

int main(int argc, char** argv) {
  using namespace imgfs::gpu;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 1 && (args[0] == "--version" || args[0] == "--help")) {
    if (args[0] == "--version")
      std::cout << "imgfs-gpu-hook " << imgfs::kVersion << " (commit " << imgfs::kGitCommit
                << ")\n";
    else
      std::cout
          << "usage: imgfs-gpu-hook [--link TARGET::LINK]... [--folder DIR]... [--no-ldconfig]"
             " < OCI-state-JSON\n"
             "       imgfs-gpu-hook --rootfs DIR [--link TARGET::LINK]... [--folder DIR]...\n"
             "  The createContainer hook of the nvidia.com/gpu CDI spec (see imgfs-gpu cdi\n"
             "  generate): links the driver's libraries into the container and runs its\n"
             "  ldconfig. Example: imgfs-gpu-hook --rootfs /tmp/rootfs --no-ldconfig\n";
    return 0;
  }
  auto options = ParseContainerHookArgs(args);
  if (!options.ok()) {
    std::cerr << "imgfs-gpu-hook: " << options.status().ToString() << "\n";
    return 1;
  }
  if (options->rootfs.empty()) {
    std::string state;
    char buf[4096];
    ssize_t n;
    while ((n = imgfs::RetryOnEintr([&] { return ::read(0, buf, sizeof(buf)); })) > 0) {
      state.append(buf, static_cast<size_t>(n));
      if (state.size() > (1u << 20)) break;
    }
    auto rootfs = RootfsFromState(state);
    if (!rootfs.ok()) {
      std::cerr << "imgfs-gpu-hook: " << rootfs.status().ToString() << "\n";
      return 1;
    }
    options->rootfs = *rootfs;
  }
  auto report = RunContainerHook(*options);
  if (!report.ok()) {
    std::cerr << "imgfs-gpu-hook: " << report.status().ToString() << "\n";
    return 1;
  }
  for (const std::string& w : report->warnings)
    std::cerr << "imgfs-gpu-hook: warning: " << w << "\n";
  return 0;
}
