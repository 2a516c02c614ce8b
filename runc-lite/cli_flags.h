// Command-line flags with Go's `flag` syntax, as runc (urfave/cli) accepts them:
// -name, --name, -name=value, --name=value, and "--name value" for non-boolean flags.
// Boolean flags never consume the next argument ("--detach=false" sets false). Parsing stops
// at the first argument that is not a flag, or after "--"; the rest are positional.
// Thread-compatible.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace imgfs::runc {

class FlagSet {
 public:
  enum class Kind { kBool, kString, kList };

  // Declares a flag; ALIASES are extra names ("t" for "tty"). Names are given without dashes.
  void Bool(const std::string& name, std::vector<std::string> aliases = {});
  void String(const std::string& name, std::string default_value = "",
              std::vector<std::string> aliases = {});
  void List(const std::string& name, std::vector<std::string> aliases = {});

  // Parses ARGS[from...]; returns the positional arguments. Unknown flags are an error
  // "flag provided but not defined: -x".
  Result<std::vector<std::string>> Parse(const std::vector<std::string>& args, size_t from = 0);

  bool GetBool(const std::string& name) const;
  const std::string& GetString(const std::string& name) const;
  const std::vector<std::string>& GetList(const std::string& name) const;
  bool IsSet(const std::string& name) const;

 private:
  struct Flag {
    Kind kind;
    std::string value;
    std::vector<std::string> list;
    bool set = false;
  };
  std::map<std::string, Flag> flags_;            // by canonical name
  std::map<std::string, std::string> aliases_;  // any name -> canonical name
  void Declare(const std::string& name, Kind kind, std::string def,
               const std::vector<std::string>& aliases);
};

}  // namespace imgfs::runc
