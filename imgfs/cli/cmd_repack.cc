// imgfs repack IMAGE [--tag NAME]: lay the chunks of IMAGE's recorded access trace out first.
#include <cstdio>

#include "imgfs/cli/args.h"
#include "imgfs/cli/commands.h"
#include "imgfs/cli/control_client.h"
#include "imgfs/cli/usage.h"
#include "imgfs/daemon/daemon.h"
#include "imgfs/daemon/store_admin.h"

namespace imgfs::cli {

Result<int> RunRepack(const ArgList& argv) {
  ASSIGN_OR_RETURN(Args args, ParseArgs(argv, {"store", "tag"}, {}));
  if (args.positional.size() != 1) return UsageError(kRepackUsage);
  const std::string& name = args.positional[0];
  const std::string tag = args.Get("tag", name);
  auto store = OpenStoreFromFlag(args.Get("store"));
  nlohmann::json reply;
  if (store.ok()) {
    ASSIGN_OR_RETURN(daemon::RepackResult r, daemon::RepackAndPublish(**store, name, tag));
    reply = daemon::RepackReply(r);
  } else {
    const std::string socket = daemon::DaemonSocketPath(StorePath(args));
    if (!DaemonHolds(store.status(), socket)) return store.status();
    ASSIGN_OR_RETURN(reply,
                     ControlCall(socket, "POST", "/repack", {{"image", name}, {"tag", tag}}));
  }
  std::printf("%s\n", reply.value("digest", "").c_str());
  std::fprintf(stderr, "repacked %s: %llu traced chunks first, %llu chunks in %llu packs\n",
               name.c_str(), static_cast<unsigned long long>(reply.value("traced_chunks", 0ull)),
               static_cast<unsigned long long>(reply.value("chunks", 0ull)),
               static_cast<unsigned long long>(reply.value("packs", 0ull)));
  return 0;
}

}  // namespace imgfs::cli
