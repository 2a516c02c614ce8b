#include "imgfs/cli/args.h"

#include <cstdio>

namespace imgfs {

Result<Args> ParseArgs(const std::vector<std::string>& argv, const std::set<std::string>& with_value,
                       const std::set<std::string>& switches) {
  Args args;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "--") {
      args.positional.insert(args.positional.end(), argv.begin() + i + 1, argv.end());
      break;
    }
    if (a.size() < 3 || a.compare(0, 2, "--") != 0) {
      if (a.size() > 1 && a[0] == '-' && a != "-") return Status::InvalidArgument("unknown option " + a);
      args.positional.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    bool inline_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      inline_value = true;
    }
    if (with_value.count(name)) {
      if (!inline_value) {
        if (i + 1 >= argv.size()) return Status::InvalidArgument("--" + name + " needs a value");
        value = argv[++i];
      }
      args.values[name] = value;
    } else if (switches.count(name) && !inline_value) {
      args.switches.insert(name);
    } else {
      return Status::InvalidArgument("unknown option --" + name);
    }
  }
  return args;
}

std::string HumanBytes(uint64_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000 && u < 4) v /= 1000, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace imgfs
