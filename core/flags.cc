#include "core/flags.h"

#include "core/numbers.h"

namespace imgfs {
namespace {

constexpr char kHelp[] = "help";

bool ParseBool(const std::string& v, bool& out) {
  if (v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" || v == "True") {
    out = true;
  } else if (v == "0" || v == "f" || v == "F" || v == "false" || v == "FALSE" || v == "False") {
    out = false;
  } else {
    return false;
  }
  return true;
}

}  // namespace

FlagSet::FlagSet(std::string usage) : usage_(std::move(usage)) {}

FlagSet::FlagSet(std::string usage, Options options)
    : usage_(std::move(usage)), options_(options) {}

void FlagSet::Declare(const std::string& name, Kind kind, std::string def,
                      std::vector<std::string> aliases, std::string help) {
  if (!flags_.count(name)) order_.push_back(name);
  for (const auto& a : aliases) aliases_[a] = name;
  aliases_[name] = name;
  flags_[name] = Flag{kind, def, {}, false, std::move(aliases), std::move(help), def};
}

void FlagSet::Bool(const std::string& name, std::vector<std::string> aliases, std::string help) {
  Declare(name, Kind::kBool, "false", std::move(aliases), std::move(help));
}
void FlagSet::String(const std::string& name, std::string def, std::vector<std::string> aliases,
                     std::string help) {
  Declare(name, Kind::kString, std::move(def), std::move(aliases), std::move(help));
}
void FlagSet::List(const std::string& name, std::vector<std::string> aliases, std::string help) {
  Declare(name, Kind::kList, "", std::move(aliases), std::move(help));
}

std::string FlagSet::Dashed(const std::string& name) const {
  if (options_.syntax == Syntax::kGo) return "-" + name;
  return (name.size() == 1 ? "-" : "--") + name;
}

Status FlagSet::Unknown(const std::string& arg, const std::string& name) const {
  if (options_.syntax == Syntax::kGo)
    return Status::InvalidArgument("flag provided but not defined: -" + name);
  return Status::InvalidArgument("unknown option " + arg);
}

Result<std::vector<std::string>> FlagSet::Parse(const std::vector<std::string>& args, size_t from) {
  const bool go = options_.syntax == Syntax::kGo;
  const bool own_help = flags_.count(kHelp) != 0;
  std::vector<std::string> positional;
  size_t i = from;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a.size() < 2 || a[0] != '-') {
      if (!options_.interleaved) break;
      positional.push_back(a);
      continue;
    }
    const bool two_dashes = a[1] == '-';
    std::string body = a.substr(two_dashes ? 2 : 1);
    if (body.empty() || body[0] == '-' || body[0] == '=')
      return Status::InvalidArgument("bad flag syntax: " + a);
    std::string name = body, value;
    bool has_value = false;
    if (size_t eq = body.find('='); eq != std::string::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
      has_value = true;
    }
    if (!go && two_dashes == (name.size() == 1)) return Unknown(a, name);
    if (!own_help && (name == kHelp || name == "h")) {
      help_requested_ = true;
      return positional;
    }
    auto alias = aliases_.find(name);
    if (alias == aliases_.end()) return Unknown(a, name);
    Flag& f = flags_[alias->second];
    if (f.kind == Kind::kBool) {
      bool b = true;
      if (has_value && !ParseBool(value, b))
        return Status::InvalidArgument("invalid boolean value \"" + value + "\" for " +
                                       Dashed(name));
      f.value = b ? "true" : "false";
    } else {
      if (!has_value) {
        if (i + 1 >= args.size()) {
          if (go) return Status::InvalidArgument("flag needs an argument: -" + name);
          return Status::InvalidArgument(Dashed(name) + " needs a value");
        }
        value = args[++i];
      }
      if (f.kind == Kind::kList) {
        f.list.push_back(value);
      } else {
        f.value = value;
      }
    }
    f.set = true;
  }
  for (; i < args.size(); ++i) positional.push_back(args[i]);
  return positional;
}

std::string FlagSet::Usage() const {
  std::string out = usage_.empty() ? "" : "usage: " + usage_ + "\n";
  std::vector<std::pair<std::string, std::string>> rows;
  size_t width = 0;
  for (const std::string& name : order_) {
    const Flag& f = flags_.at(name);
    std::string left = "  " + (options_.syntax == Syntax::kGo ? "--" + name : Dashed(name));
    for (const std::string& a : f.aliases) left += ", " + Dashed(a);
    if (f.kind != Kind::kBool) left += " VALUE";
    std::string right = f.help;
    if (f.kind == Kind::kString && !f.default_value.empty())
      right += (right.empty() ? "" : " ") + std::string("(default: ") + f.default_value + ")";
    if (f.kind == Kind::kList) right += (right.empty() ? "" : " ") + std::string("(repeatable)");
    width = std::max(width, left.size());
    rows.emplace_back(std::move(left), std::move(right));
  }
  if (!flags_.count(kHelp)) rows.emplace_back("  --help, -h", "show this help");
  width = std::max<size_t>(width, 12);
  if (!rows.empty()) out += "options:\n";
  for (const auto& [left, right] : rows) {
    out += left;
    if (!right.empty()) out += std::string(width + 2 - std::min(width, left.size()), ' ') + right;
    out += "\n";
  }
  return out;
}

bool FlagSet::GetBool(const std::string& name) const {
  auto it = flags_.find(name);
  return it != flags_.end() && it->second.value == "true";
}

const std::string& FlagSet::GetString(const std::string& name) const {
  static const std::string kEmpty;
  auto it = flags_.find(name);
  return it == flags_.end() ? kEmpty : it->second.value;
}

const std::vector<std::string>& FlagSet::GetList(const std::string& name) const {
  static const std::vector<std::string> kEmpty;
  auto it = flags_.find(name);
  return it == flags_.end() ? kEmpty : it->second.list;
}

bool FlagSet::IsSet(const std::string& name) const {
  auto it = flags_.find(name);
  return it != flags_.end() && it->second.set;
}

Result<uint64_t> FlagSet::GetUint64(const std::string& name, uint64_t min, uint64_t max) const {
  return ParseUint64(GetString(name), min, max, "--" + name);
}

Result<int64_t> FlagSet::GetInt64(const std::string& name, int64_t min, int64_t max) const {
  return ParseInt64(GetString(name), min, max, "--" + name);
}

Result<uint64_t> FlagSet::GetSize(const std::string& name, uint64_t max) const {
  return ParseSize(GetString(name), "--" + name, max);
}

}  // namespace imgfs
