// imgfs verify: checks every chunk, index and ref of a store (imgfs/store_verify.h).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "imgfs/cli/args.h"
#include "imgfs/cli/commands.h"
#include "imgfs/cli/usage.h"
#include "imgfs/store_verify.h"

namespace imgfs::cli {

Result<int> RunVerify(const ArgList& argv) {
  ASSIGN_OR_RETURN(Args args, ParseArgs(argv, {"store"}, {"json"}));
  if (!args.positional.empty()) return UsageError(kVerifyUsage);
  // Read-only: works beside the daemon holding the store, and right after a crash.
  ASSIGN_OR_RETURN(auto store, OpenStoreFromFlag(args.Get("store"), /*read_only=*/true));
  ASSIGN_OR_RETURN(store::VerifyReport r, store::VerifyStore(*store));
  if (args.Has("json")) {
    nlohmann::json images = nlohmann::json::array();
    for (const auto& i : r.images)
      images.push_back({{"name", i.name},
                        {"digest", i.index_digest.ToString()},
                        {"chunks", i.chunks},
                        {"local_chunks", i.local_chunks}});
    nlohmann::json j = {{"chunks", r.chunks},     {"stored_bytes", r.stored_bytes},
                        {"indexes", r.indexes},   {"refs", r.refs},
                        {"problems", r.problems}, {"images", images}};
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    for (const std::string& p : r.problems) std::printf("problem: %s\n", p.c_str());
    std::printf("%llu chunks (%s stored), %llu indexes, %llu refs checked: %s\n",
                static_cast<unsigned long long>(r.chunks), HumanBytes(r.stored_bytes).c_str(),
                static_cast<unsigned long long>(r.indexes), static_cast<unsigned long long>(r.refs),
                r.problems.empty() ? "no problems"
                                   : (std::to_string(r.problems.size()) + " problem(s)").c_str());
  }
  return r.problems.empty() ? 0 : 1;
}

}  // namespace imgfs::cli
