// imgfs push IMAGE DEST [--store DIR] [--trace FILE] [--ca-file PEM]
#include <cstdio>

#include "core/fd.h"
#include "imgfs/cli/args.h"
#include "imgfs/cli/commands.h"
#include "imgfs/cli/usage.h"
#include "imgfs/push.h"
#include "imgfs/remote_store.h"

namespace imgfs::cli {

Result<int> RunPush(const ArgList& argv) {
  ASSIGN_OR_RETURN(Args args, ParseArgs(argv, {"store", "trace", "ca-file"}, {}));
  if (args.positional.size() != 2) return UsageError(kPushUsage);
  ASSIGN_OR_RETURN(auto store, OpenStoreFromFlag(args.Get("store"), /*read_only=*/true));
  ASSIGN_OR_RETURN(Digest digest, store->Resolve(args.positional[0]));
  ASSIGN_OR_RETURN(auto index, store->GetIndex(digest));
  remote::RemoteOptions options;
  options.ca_file = args.Get("ca-file");
  ASSIGN_OR_RETURN(auto remote, remote::OpenRemoteStore(args.positional[1], options));
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
  remote::PushStats stats;
  RETURN_IF_ERROR(
      remote::PushImage(*index, *store, *remote, have_trace ? &trace : nullptr, &stats));
  std::printf("%s\n", index->digest().ToString().c_str());
  std::fprintf(stderr,
               "pushed to %s: %llu packs uploaded (%s), %llu already there (%s), index %s%s\n",
               remote->Describe().c_str(), static_cast<unsigned long long>(stats.packs_uploaded),
               HumanBytes(stats.pack_bytes_uploaded).c_str(),
               static_cast<unsigned long long>(stats.packs_skipped),
               HumanBytes(stats.pack_bytes_skipped).c_str(),
               stats.index_uploaded ? "uploaded" : "already there",
               stats.trace_uploaded ? (", trace " + HumanBytes(stats.trace_bytes)).c_str() : "");
  return 0;
}

}  // namespace imgfs::cli
