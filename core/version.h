// The project's version and the git commit it was built from ("unknown" outside a checkout,
// with "-dirty" when the tree had changes), for every program's --version. Constants, written at
// build time by cmake/write_version.cmake (library imgfs_version); thread-safe.
#pragma once

namespace imgfs {

extern const char kVersion[];
extern const char kGitCommit[];

}  // namespace imgfs
