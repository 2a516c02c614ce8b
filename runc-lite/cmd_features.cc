// runc-lite features: what this runtime implements (runtime-spec features.md).
#include "runc-lite/command.h"
#include "runc-lite/features.h"

namespace imgfs::runc {
namespace {

Result<int> Features(const CommandContext&) {
  PrintOut(FeaturesJson() + "\n");
  return 0;
}

}  // namespace

const Command kFeaturesCommand = {
    "features", "features",      "print the features this runtime implements, as JSON",
    0,          [](FlagSet&) {}, Features};

}  // namespace imgfs::runc
