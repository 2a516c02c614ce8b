// The runc-compatible command line: global flags, then a command and its flags.
// RunCommandLine returns the process exit status (0 ok, 1 error, or the container's own status
// for run/exec without --detach); it throws nothing (an escaping exception is an error line and
// exit status 1). Single-threaded.
#pragma once

#include <string>
#include <vector>

namespace imgfs::runc {

int RunCommandLine(const std::vector<std::string>& args);

}  // namespace imgfs::runc
