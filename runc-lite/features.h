// The `features` document (runtime-spec features.md): what this runtime implements.
// Thread-safety: a pure function of the build; safe from any thread.
#pragma once

#include <string>

namespace imgfs::runc {

std::string FeaturesJson();

}  // namespace imgfs::runc
