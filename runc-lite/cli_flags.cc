#include "runc-lite/cli_flags.h"

namespace imgfs::runc {

void FlagSet::Declare(const std::string& name, Kind kind, std::string def,
                      const std::vector<std::string>& aliases) {
  flags_[name] = Flag{kind, std::move(def), {}, false};
  aliases_[name] = name;
  for (const auto& a : aliases) aliases_[a] = name;
}

void FlagSet::Bool(const std::string& name, std::vector<std::string> aliases) {
  Declare(name, Kind::kBool, "false", aliases);
}
void FlagSet::String(const std::string& name, std::string def, std::vector<std::string> aliases) {
  Declare(name, Kind::kString, std::move(def), aliases);
}
void FlagSet::List(const std::string& name, std::vector<std::string> aliases) {
  Declare(name, Kind::kList, "", aliases);
}

Result<std::vector<std::string>> FlagSet::Parse(const std::vector<std::string>& args,
                                                size_t from) {
  std::vector<std::string> positional;
  size_t i = from;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a.size() < 2 || a[0] != '-') break;
    std::string body = a.substr(a[1] == '-' ? 2 : 1);
    if (body.empty() || body[0] == '-' || body[0] == '=')
      return Status::InvalidArgument("bad flag syntax: " + a);
    std::string name = body, value;
    bool has_value = false;
    if (size_t eq = body.find('='); eq != std::string::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
      has_value = true;
    }
    auto alias = aliases_.find(name);
    if (alias == aliases_.end())
      return Status::InvalidArgument("flag provided but not defined: -" + name);
    Flag& f = flags_[alias->second];
    if (f.kind == Kind::kBool) {
      if (!has_value) value = "true";
      if (value == "1" || value == "t" || value == "T" || value == "true" || value == "TRUE" ||
          value == "True") {
        f.value = "true";
      } else if (value == "0" || value == "f" || value == "F" || value == "false" ||
                 value == "FALSE" || value == "False") {
        f.value = "false";
      } else {
        return Status::InvalidArgument("invalid boolean value \"" + value + "\" for -" + name);
      }
    } else {
      if (!has_value) {
        if (i + 1 >= args.size())
          return Status::InvalidArgument("flag needs an argument: -" + name);
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

}  // namespace imgfs::runc
