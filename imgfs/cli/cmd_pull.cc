// imgfs pull docker://HOST/REPO[:TAG|@DIGEST] [--store DIR] [--tag NAME] [--platform OS/ARCH]
//            [registry flags]
#include <cstdio>

#include "imgfs/cli/args.h"
#include "imgfs/cli/commands.h"
#include "imgfs/cli/registry_flags.h"
#include "imgfs/cli/usage.h"
#include "imgfs/registry/registry_pull.h"

namespace imgfs::cli {

Result<int> RunPull(const ArgList& argv) {
  ASSIGN_OR_RETURN(
      Args args,
      ParseArgs(argv, WithRegistryFlags({"store", "tag", "platform"}, kRegistryValueFlags),
                kRegistrySwitches));
  if (args.positional.size() != 1) return UsageError(kPullUsage);
  ASSIGN_OR_RETURN(registry::Reference ref, registry::ParseReference(args.positional[0]));
  ASSIGN_OR_RETURN(registry::ClientOptions options, RegistryOptionsFromArgs(args));
  ASSIGN_OR_RETURN(auto store, OpenStoreFromFlag(args.Get("store")));
  ASSIGN_OR_RETURN(auto client,
                   registry::RegistryClient::Open(ref.host, ref.repository, std::move(options)));
  ASSIGN_OR_RETURN(registry::PulledImage pulled,
                   registry::PullFromRegistry(*client, ref, args.Get("platform", "linux/amd64")));
  if (pulled.trace) RETURN_IF_ERROR(store->PutTrace(pulled.index_digest, *pulled.trace));
  RETURN_IF_ERROR(store->PublishIndex(*pulled.index, args.Get("tag", ref.ToString())));
  std::printf("%s\n", pulled.index_digest.ToString().c_str());
  std::fprintf(stderr, "pulled the index%s of %s (artifact %s); packs are read when mounted\n",
               pulled.trace ? " and trace" : "", ref.ToString().c_str(),
               pulled.artifact.ToString().c_str());
  return 0;
}

}  // namespace imgfs::cli
