// The `features` document (runtime-spec features.md): what this runtime implements.
#pragma once

#include <string>

namespace imgfs::runc {

std::string FeaturesJson();

}  // namespace imgfs::runc
