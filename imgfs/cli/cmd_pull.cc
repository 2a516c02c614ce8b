// imgfs pull docker://HOST/REPO[:TAG|@DIGEST] [--store DIR] [--tag NAME] [--platform OS/ARCH]
//            [registry flags]; through the store's daemon when one holds the store
#include <cstdio>

#include "imgfs/cli/args.h"
#include "imgfs/cli/commands.h"
#include "imgfs/cli/control_client.h"
#include "imgfs/cli/registry_flags.h"
#include "imgfs/cli/usage.h"
#include "imgfs/daemon/daemon.h"
#include "imgfs/daemon/store_admin.h"

namespace imgfs::cli {

Result<int> RunPull(const ArgList& argv) {
  ASSIGN_OR_RETURN(
      Args args,
      ParseArgs(argv, WithRegistryFlags({"store", "tag", "platform"}, kRegistryValueFlags),
                kRegistrySwitches));
  if (args.positional.size() != 1) return UsageError(kPullUsage);
  ASSIGN_OR_RETURN(registry::Reference ref, registry::ParseReference(args.positional[0]));
  ASSIGN_OR_RETURN(registry::ClientOptions options, RegistryOptionsFromArgs(args));
  const std::string platform = args.Get("platform", "linux/amd64");
  const std::string tag = args.Get("tag");  // "": named after the reference
  auto store = OpenStoreFromFlag(args.Get("store"));
  nlohmann::json pulled;
  if (store.ok()) {
    ASSIGN_OR_RETURN(registry::PulledImage p,
                     daemon::PullAndPublish(**store, args.positional[0], options, platform, tag));
    pulled = daemon::PullReply(p);
  } else {
    // The store's daemon holds it: the daemon pulls, with its own credentials.
    const std::string socket = daemon::DaemonSocketPath(StorePath(args));
    if (!DaemonHolds(store.status(), socket)) return store.status();
    RETURN_IF_ERROR(NoCredentialsForDaemon(args, "pull"));
    ASSIGN_OR_RETURN(pulled,
                     ControlCall(socket, "POST", "/pull",
                                 daemon::PullRequest(args.positional[0], options, platform, tag)));
  }
  std::printf("%s\n", pulled.value("digest", "").c_str());
  std::fprintf(stderr, "pulled the index%s of %s (artifact %s); packs are read when mounted\n",
               pulled.value("trace", false) ? " and trace" : "", ref.ToString().c_str(),
               pulled.value("artifact", "").c_str());
  return 0;
}

}  // namespace imgfs::cli
