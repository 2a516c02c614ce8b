#include "imgfs/snapshotter/snapshot_filter.h"

#include <cctype>
#include <optional>

namespace imgfs::snapshotter {

namespace {

using Selector = SnapshotFilter::Selector;
using Op = SnapshotFilter::Op;

bool IsFieldChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)); }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// One filter string, scanned left to right.
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<std::vector<Selector>> Filter() {
    std::vector<Selector> all;
    for (;;) {
      ASSIGN_OR_RETURN(Selector s, ParseSelector());
      all.push_back(std::move(s));
      SkipSpace();
      if (pos_ == text_.size()) return all;
      if (text_[pos_] != ',') return Error("expected ',' or the end");
      ++pos_;
    }
  }

 private:
  Status Error(const std::string& what) const {
    return Status::InvalidArgument("filter '" + std::string(text_) + "' at " +
                                   std::to_string(pos_) + ": " + what);
  }

  void SkipSpace() {
    while (pos_ < text_.size() && IsSpace(text_[pos_])) ++pos_;
  }

  // A quoted string starting at pos_ with the quote character Q; Go's escapes.
  Result<std::string> Quoted(char q) {
    ++pos_;
    std::string out;
    while (pos_ < text_.size() && text_[pos_] != q) {
      char c = text_[pos_++];
      if (c == '\n') return Error("quoted literal not terminated");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ == text_.size()) break;
      c = text_[pos_++];
      static constexpr std::string_view kEscapes = "abfnrtv\\";
      static constexpr std::string_view kMeaning = "\a\b\f\n\r\t\v\\";
      if (const size_t e = kEscapes.find(c); e != std::string_view::npos) {
        out += kMeaning[e];
        continue;
      }
      if (c == q) {
        out += c;
        continue;
      }
      if (c != 'x') return Error(std::string("unknown escape \\") + c);
      const int hi = pos_ + 1 < text_.size() ? HexValue(text_[pos_]) : -1;
      const int lo = hi >= 0 ? HexValue(text_[pos_ + 1]) : -1;
      if (lo < 0) return Error("bad \\x escape");
      out += static_cast<char>(hi * 16 + lo);
      pos_ += 2;
    }
    if (pos_ == text_.size()) return Error("quoted literal not terminated");
    ++pos_;  // the closing quote
    return out;
  }

  Result<std::string> Field() {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '"') return Quoted('"');
    const size_t start = pos_;
    while (pos_ < text_.size() && IsFieldChar(text_[pos_])) ++pos_;
    if (pos_ == start) return Error("expected a field");
    return std::string(text_.substr(start, pos_ - start));
  }

  Result<Selector> ParseSelector() {
    Selector s;
    ASSIGN_OR_RETURN(std::string first, Field());
    s.fieldpath.push_back(std::move(first));
    for (;;) {
      SkipSpace();
      if (pos_ == text_.size() || text_[pos_] != '.') break;
      ++pos_;
      ASSIGN_OR_RETURN(std::string f, Field());
      s.fieldpath.push_back(std::move(f));
    }
    SkipSpace();
    if (pos_ == text_.size() || text_[pos_] == ',') return s;  // presence
    const std::string_view rest = text_.substr(pos_);
    if (rest.substr(0, 2) == "==") {
      s.op = Op::kEqual;
    } else if (rest.substr(0, 2) == "!=") {
      s.op = Op::kNotEqual;
    } else if (rest.substr(0, 2) == "~=") {
      s.op = Op::kMatches;
    } else {
      return Error("expected an operator (==, != or ~=)");
    }
    pos_ += 2;
    SkipSpace();
    if (pos_ == text_.size()) return Error("expected a value");
    const char c = text_[pos_];
    if (c == '"' || (s.op == Op::kMatches && (c == '/' || c == '|'))) {
      ASSIGN_OR_RETURN(s.value, Quoted(c));
    } else {
      const size_t start = pos_;
      while (pos_ < text_.size() && text_[pos_] != ',' && !IsSpace(text_[pos_])) ++pos_;
      s.value = std::string(text_.substr(start, pos_ - start));
    }
    if (s.op == Op::kMatches) {
      try {
        s.re = std::make_shared<const std::regex>(s.value, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        return Error("bad regular expression " + s.value + ": " + e.what());
      }
    }
    return s;
  }

  const std::string_view text_;
  size_t pos_ = 0;
};

// containerd's snapshot adaptor: the field's value, or nullopt when absent.
std::optional<std::string> FieldOf(const SnapshotInfo& s, const std::vector<std::string>& path) {
  const std::string& f = path[0];
  if (f == "kind") {
    return std::string(s.kind == Kind::kActive ? "active"
                       : s.kind == Kind::kView ? "view"
                                               : "committed");
  }
  if (f == "name") return s.name;
  if (f == "parent") return s.parent;
  if (f == "labels" && path.size() > 1) {
    std::string key = path[1];
    for (size_t i = 2; i < path.size(); ++i) key += "." + path[i];
    auto it = s.labels.find(key);
    if (it != s.labels.end()) return it->second;
  }
  return std::nullopt;
}

bool SelectorMatches(const Selector& sel, const SnapshotInfo& s) {
  const std::optional<std::string> v = FieldOf(s, sel.fieldpath);
  switch (sel.op) {
    case Op::kPresent:
      return v.has_value();
    case Op::kEqual:
      return v && *v == sel.value;
    case Op::kNotEqual:
      return v.value_or("") != sel.value;
    case Op::kMatches:
      return std::regex_search(v.value_or(""), *sel.re);
  }
  return false;
}

}  // namespace

Result<SnapshotFilter> SnapshotFilter::Parse(const std::vector<std::string>& filters) {
  SnapshotFilter f;
  for (const std::string& text : filters) {
    if (text.empty()) {
      f.any_.push_back({});  // matches everything, as containerd's empty filter
      continue;
    }
    ASSIGN_OR_RETURN(std::vector<Selector> all, Parser(text).Filter());
    f.any_.push_back(std::move(all));
  }
  return f;
}

bool SnapshotFilter::Matches(const SnapshotInfo& s) const {
  if (any_.empty()) return true;
  for (const std::vector<Selector>& all : any_) {
    bool ok = true;
    for (const Selector& sel : all) ok = ok && SelectorMatches(sel, s);
    if (ok) return true;
  }
  return false;
}

}  // namespace imgfs::snapshotter
