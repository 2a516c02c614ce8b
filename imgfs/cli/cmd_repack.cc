// imgfs repack IMAGE [--tag NAME]: lay the chunks of IMAGE's recorded access trace out first.
#include <cstdio>

#include "imgfs/cli/args.h"
#include "imgfs/cli/commands.h"
#include "imgfs/daemon/image_fs.h"
#include "indexer/repack.h"

namespace imgfs {

Result<int> RunRepack(const ArgList& argv) {
  ASSIGN_OR_RETURN(Args args, ParseArgs(argv, {"store", "tag"}, {}));
  if (args.positional.size() != 1)
    return Status::InvalidArgument("usage: imgfs repack IMAGE [--tag NAME] [--store DIR]");
  const std::string& name = args.positional[0];
  ASSIGN_OR_RETURN(auto store, OpenStoreFromFlag(args.Get("store")));
  ASSIGN_OR_RETURN(Digest digest, store->Resolve(name));
  ASSIGN_OR_RETURN(auto index, store->GetIndex(digest));
  auto trace = store->GetTrace(digest);
  if (!trace.ok())
    return Status::NotFound("no access trace recorded for " + name +
                            " (mount it with --trace record first)");
  std::vector<Digest> order = ParseTrace(*trace);
  ASSIGN_OR_RETURN(std::string bytes, RepackIndex(*index, order, *store, PackingOptions{}));
  ASSIGN_OR_RETURN(auto repacked, ImageIndex::Parse(std::move(bytes)));
  // The trace names chunks, not positions: it holds for the new layout as it is.
  RETURN_IF_ERROR(store->PutTrace(repacked->digest(), *trace));
  RETURN_IF_ERROR(store->PublishIndex(*repacked, args.Get("tag", name)));
  std::printf("%s\n", repacked->digest().ToString().c_str());
  std::fprintf(stderr, "repacked %s: %zu traced chunks first, %u chunks in %u packs\n", name.c_str(),
               order.size(), repacked->chunk_count(), repacked->pack_count());
  return 0;
}

}  // namespace imgfs
