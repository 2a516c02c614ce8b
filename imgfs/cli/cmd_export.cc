// imgfs export IMAGE DIR | --tar FILE
#include "imgfs/cli/args.h"
#include "imgfs/cli/commands.h"
#include "imgfs/cli/usage.h"
#include "indexer/export.h"

namespace imgfs::cli {

Result<int> RunExport(const ArgList& argv) {
  ASSIGN_OR_RETURN(Args args, ParseArgs(argv, {"store", "tar"}, {}));
  if (args.positional.size() != (args.Has("tar") ? 1u : 2u)) return UsageError(kExportUsage);
  ASSIGN_OR_RETURN(auto store, OpenStoreFromFlag(args.Get("store"), /*read_only=*/true));
  ASSIGN_OR_RETURN(Digest digest, store->Resolve(args.positional[0]));
  ASSIGN_OR_RETURN(auto index, store->GetIndex(digest));
  if (args.Has("tar"))
    RETURN_IF_ERROR(indexer::ExportToTar(*index, *store, args.Get("tar")));
  else
    RETURN_IF_ERROR(indexer::ExportToDirectory(*index, *store, args.positional[1]));
  return 0;
}

}  // namespace imgfs::cli
