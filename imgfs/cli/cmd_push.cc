// imgfs push IMAGE DEST [--store DIR] [--trace FILE] [--ca-file PEM] [--mount-from REPO]
//            [registry flags]
#include <cstdio>

#include "core/fd.h"
#include "imgfs/cli/args.h"
#include "imgfs/cli/commands.h"
#include "imgfs/cli/registry_flags.h"
#include "imgfs/cli/usage.h"
#include "imgfs/push.h"
#include "imgfs/registry/registry_push.h"
#include "imgfs/remote_store.h"

namespace imgfs::cli {

namespace {

void PrintStats(const std::string& where, const remote::PushStats& stats) {
  std::fprintf(stderr,
               "pushed to %s: %llu packs uploaded (%s), %llu already there (%s), index %s%s%s\n",
               where.c_str(), static_cast<unsigned long long>(stats.packs_uploaded),
               HumanBytes(stats.pack_bytes_uploaded).c_str(),
               static_cast<unsigned long long>(stats.packs_skipped),
               HumanBytes(stats.pack_bytes_skipped).c_str(),
               stats.index_uploaded ? "uploaded" : "already there",
               stats.compressed_index_uploaded
                   ? (", compressed index " + HumanBytes(stats.compressed_index_bytes)).c_str()
                   : "",
               stats.trace_uploaded ? (", trace " + HumanBytes(stats.trace_bytes)).c_str() : "");
}

}  // namespace

Result<int> RunPush(const ArgList& argv) {
  ASSIGN_OR_RETURN(
      Args args,
      ParseArgs(argv, WithRegistryFlags({"store", "trace", "mount-from"}, kRegistryValueFlags),
                kRegistrySwitches));
  if (args.positional.size() != 2) return UsageError(kPushUsage);
  const std::string dest = args.positional[1];
  const bool to_registry = registry::IsRegistryReference(dest);
  if (!to_registry && (args.Has("creds") || args.Has("plain-http") || args.Has("tls-verify") ||
                       args.Has("mount-from")))
    return Status::InvalidArgument(
        "--creds, --plain-http, --tls-verify and --mount-from are for docker:// destinations");
  ASSIGN_OR_RETURN(auto store, OpenStoreFromFlag(args.Get("store"), /*read_only=*/true));
  ASSIGN_OR_RETURN(Digest digest, store->Resolve(args.positional[0]));
  ASSIGN_OR_RETURN(auto index, store->GetIndex(digest));
  // The trace: --trace FILE, else the one recorded in the store for this image, if any.
  std::string trace;
  bool have_trace = false;
  if (args.Has("trace")) {
    ASSIGN_OR_RETURN(trace, ReadFileToString(args.Get("trace"), 64u << 20));
    have_trace = true;
  } else if (auto stored = store->GetTrace(digest); stored.ok()) {
    trace = std::move(*stored);
    have_trace = true;
  }
  if (to_registry) {
    ASSIGN_OR_RETURN(registry::Reference ref, registry::ParseReference(dest));
    ASSIGN_OR_RETURN(registry::ClientOptions options, RegistryOptionsFromArgs(args));
    ASSIGN_OR_RETURN(
        registry::RegistryPushResult r,
        registry::PushToRegistry(*index, *store, ref, std::move(options),
                                 have_trace ? &trace : nullptr, args.Get("mount-from")));
    std::printf("%s\n", index->digest().ToString().c_str());
    PrintStats(ref.ToString(), r.stats);
    if (r.blobs_mounted)
      std::fprintf(stderr, "%llu blobs mounted from %s instead of uploaded\n",
                   static_cast<unsigned long long>(r.blobs_mounted),
                   args.Get("mount-from").c_str());
    std::fprintf(stderr, "artifact %s%s%s\n", r.artifact.ToString().c_str(),
                 r.subject ? (", referring to " + r.subject->ToString()).c_str() : "",
                 r.tagged ? (", tagged " + ref.tag).c_str() : "");
    return 0;
  }
  remote::RemoteOptions options;
  options.ca_file = args.Get("ca-file");
  ASSIGN_OR_RETURN(auto remote, remote::OpenRemoteStore(dest, options));
  remote::PushStats stats;
  RETURN_IF_ERROR(
      remote::PushImage(*index, *store, *remote, have_trace ? &trace : nullptr, &stats));
  std::printf("%s\n", index->digest().ToString().c_str());
  PrintStats(remote->Describe(), stats);
  return 0;
}

}  // namespace imgfs::cli
