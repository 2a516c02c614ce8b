// The default OCI config of runc-lite, apart from the runtime so that imgfs run can start from
// it without executing `runc-lite spec`.
#pragma once

#include <string>

namespace imgfs::runc {

// The config.json that `runc-lite spec` writes (runc's default, rootless=false).
std::string DefaultSpecJson();

}  // namespace imgfs::runc
