// runc-lite: an OCI runtime with runc's command line. See docs/runc-lite.md.
#include <string>
#include <vector>

#include "runc-lite/commands.h"

int main(int argc, char** argv) {
  try {
    std::vector<std::string> args(argv, argv + argc);
    return imgfs::runc::RunCommandLine(args);
  } catch (...) {  // bad_alloc while copying argv: nothing else can throw here
    return 1;
  }
}
