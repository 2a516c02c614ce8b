#include "imgfs/snapshotter/chain_id.h"

#include "core/digest.h"

namespace imgfs::snapshotter {

Result<std::vector<std::string>> ChainIds(const std::vector<std::string>& diff_ids) {
  std::vector<std::string> out;
  for (const std::string& d : diff_ids) {
    Result<Digest> digest = Digest::Parse(d);
    if (!digest.ok()) return Status::InvalidArgument("diff ID '" + d.substr(0, 80) + "'");
    out.push_back(out.empty() ? digest->ToString()
                              : Sha256(out.back() + " " + digest->ToString()).ToString());
  }
  return out;
}

}  // namespace imgfs::snapshotter
