// runc-lite spec [--bundle DIR]: writes runc's default config.json.
#include <unistd.h>

#include "core/fd.h"
#include "runc-lite/command.h"
#include "runc-lite/spec.h"
#include "runc-lite/spec_default.h"

namespace imgfs::runc {
namespace {

void Declare(FlagSet& f) {
  f.String("bundle", "", {"b"}, "directory to write config.json to (default: .)");
  f.Bool("rootless", {}, "accepted; the spec written is the rootful one");
}

Result<int> WriteSpec(const CommandContext& c) {
  std::string dir = c.flags.GetString("bundle");
  std::string path = (dir.empty() ? std::string(".") : dir) + "/config.json";
  if (::access(path.c_str(), F_OK) == 0)
    return Status::AlreadyExists("File " + path + " exists. Remove it first");
  RETURN_IF_ERROR(WriteFileAtomic(path, DefaultSpecJson()));
  return 0;
}

}  // namespace

const Command kSpecCommand = {
    "spec", "spec [--bundle DIR]", "write a default config.json", 0, Declare, WriteSpec};

}  // namespace imgfs::runc
