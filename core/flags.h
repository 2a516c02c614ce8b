// The project's one command-line flag parser, used by runc-lite, imgfs-gpu and the imgfs CLI.
//
// Two syntaxes:
//  - kGo (runc's, urfave/cli over Go's `flag`): -name, --name, -name=value, --name=value and
//    "--name value" for non-boolean flags; one or two dashes mean the same.
//  - kGnu: --name, --name=value, "--name value"; a single dash only for one-letter aliases (-f).
// Boolean flags never consume the next argument ("--detach=false" sets false; 1/0/t/f/true/false
// in any case Go accepts). Parsing stops at the first argument that is not a flag (or with
// `interleaved`, collects it and goes on) and after "--"; "-" alone is positional.
// Every set answers --help and -h (unless the caller declares "help" itself): Parse then stops
// and help_requested() is true; Usage() is the text to print.
// Thread-compatible: one FlagSet per parse.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace imgfs {

class FlagSet {
 public:
  enum class Syntax { kGo, kGnu };
  struct Options {
    Syntax syntax = Syntax::kGo;
    bool interleaved = false;  // flags may follow positional arguments
  };

  // USAGE is the first line of Usage() ("runc-lite kill [command options] <container-id>").
  explicit FlagSet(std::string usage = "");
  FlagSet(std::string usage, Options options);

  // Declares a flag; ALIASES are extra names ("t" for "tty"). Names are given without dashes.
  // HELP is its line in Usage().
  void Bool(const std::string& name, std::vector<std::string> aliases = {}, std::string help = "");
  void String(const std::string& name, std::string default_value = "",
              std::vector<std::string> aliases = {}, std::string help = "");
  void List(const std::string& name, std::vector<std::string> aliases = {}, std::string help = "");

  // Parses ARGS[from...]; returns the positional arguments. Unknown flags and missing values
  // are InvalidArgument ("flag provided but not defined: -x" in kGo, "unknown option --x" in
  // kGnu).
  Result<std::vector<std::string>> Parse(const std::vector<std::string>& args, size_t from = 0);

  bool help_requested() const { return help_requested_; }
  // The usage line and one line per declared flag.
  std::string Usage() const;

  bool GetBool(const std::string& name) const;
  const std::string& GetString(const std::string& name) const;
  const std::vector<std::string>& GetList(const std::string& name) const;
  bool IsSet(const std::string& name) const;
  // The value of a string flag, checked (core/numbers.h); errors name the flag ("--runs: ...").
  Result<uint64_t> GetUint64(const std::string& name, uint64_t min, uint64_t max) const;
  Result<int64_t> GetInt64(const std::string& name, int64_t min, int64_t max) const;
  Result<uint64_t> GetSize(const std::string& name, uint64_t max = UINT64_MAX) const;

 private:
  enum class Kind { kBool, kString, kList };
  struct Flag {
    Kind kind;
    std::string value;
    std::vector<std::string> list;
    bool set = false;
    std::vector<std::string> aliases;
    std::string help;
    std::string default_value;
  };
  void Declare(const std::string& name, Kind kind, std::string def,
               std::vector<std::string> aliases, std::string help);
  std::string Dashed(const std::string& name) const;
  Status Unknown(const std::string& arg, const std::string& name) const;

  std::string usage_;
  Options options_;
  std::map<std::string, Flag> flags_;           // by canonical name
  std::vector<std::string> order_;              // declaration order, for Usage()
  std::map<std::string, std::string> aliases_;  // any name -> canonical name
  bool help_requested_ = false;
};

}  // namespace imgfs
