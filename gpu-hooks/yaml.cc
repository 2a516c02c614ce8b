#include "gpu-hooks/yaml.h"

#include <charconv>
#include <vector>

namespace imgfs::gpu {
namespace {

using nlohmann::json;

// ---- emitter ----

bool IsPlainSafe(const std::string& s) {
  if (s.empty() || s.front() == ' ' || s.back() == ' ') return false;
  if (std::string_view("-?:,[]{}#&*!|>'\"%@`~").find(s.front()) != std::string_view::npos)
    return false;
  if (s.find(": ") != std::string::npos || s.find(" #") != std::string::npos || s.back() == ':')
    return false;
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '"' || c == '\'') return false;
  }
  static const char* kWords[] = {"true", "false", "null", "yes",  "no",   "on",    "off",
                                 "True", "False", "Null", "NULL", "TRUE", "FALSE", "Yes",
                                 "No",   "Y",     "N",    "y",    "n"};
  for (const char* w : kWords) {
    if (s == w) return false;
  }
  // Anything that could read as a number stays quoted.
  if (s.find_first_not_of("0123456789+-.eExXoOabcdefABCDEF_") == std::string::npos &&
      s.find_first_of("0123456789") != std::string::npos) {
    return false;
  }
  return true;
}

std::string Scalar(const json& v) {
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    return IsPlainSafe(s) ? s : v.dump();
  }
  return v.dump();
}

bool IsEmptyCollection(const json& v) { return (v.is_object() || v.is_array()) && v.empty(); }

void Emit(const json& v, int indent, std::string& out);

// Writes the value of a "key:" or "- " whose text is already in OUT.
void EmitValueAfterKey(const json& v, int indent, std::string& out) {
  if (IsEmptyCollection(v)) {
    out += v.is_object() ? " {}\n" : " []\n";
  } else if (v.is_object() || v.is_array()) {
    out += "\n";
    Emit(v, indent + 2, out);
  } else {
    out += " " + Scalar(v) + "\n";
  }
}

void Emit(const json& v, int indent, std::string& out) {
  std::string pad(indent, ' ');
  if (v.is_object()) {
    for (auto& [k, child] : v.items()) {
      out += pad + Scalar(json(k)) + ":";
      EmitValueAfterKey(child, indent, out);
    }
  } else if (v.is_array()) {
    for (const json& item : v) {
      if (item.is_object() && !item.empty()) {
        // "- first: x" then the other keys aligned under "first".
        bool first = true;
        for (auto& [k, child] : item.items()) {
          out += (first ? pad + "- " : pad + "  ") + Scalar(json(k)) + ":";
          EmitValueAfterKey(child, indent + 2, out);
          first = false;
        }
      } else if (item.is_array() && !item.empty()) {
        out += pad + "-\n";
        Emit(item, indent + 2, out);
      } else {
        out += pad + "-";
        EmitValueAfterKey(item, indent, out);
      }
    }
  } else {
    out += pad + Scalar(v) + "\n";
  }
}

// ---- parser ----

struct Line {
  int indent;
  std::string text;  // without indent and comment
  int number;        // 1-based, for messages
};

Status Error(int line, std::string_view what) {
  return Status::InvalidArgument("YAML line " + std::to_string(line) + ": " + std::string(what));
}

// Removes a " #" comment outside quotes.
std::string StripComment(std::string_view s) {
  char quote = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quote) {
      if (c == '\\' && quote == '"')
        ++i;
      else if (c == quote)
        quote = 0;
    } else if (c == '"' || c == '\'') {
      if (i == 0 || s[i - 1] == ' ' || s[i - 1] == '[' || s[i - 1] == ',' || s[i - 1] == '{' ||
          s[i - 1] == ':') {
        quote = c;
      }
    } else if (c == '#' && (i == 0 || s[i - 1] == ' ')) {
      s = s.substr(0, i);
      break;
    }
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.remove_suffix(1);
  return std::string(s);
}

// Position of the ':' that ends a mapping key (followed by space or end), outside quotes.
size_t FindKeyColon(std::string_view s) {
  size_t i = 0;
  if (!s.empty() && (s[0] == '"' || s[0] == '\'')) {
    char q = s[0];
    for (i = 1; i < s.size(); ++i) {
      if (q == '"' && s[i] == '\\') {
        ++i;
        continue;
      }
      if (s[i] == q) {
        if (q == '\'' && i + 1 < s.size() && s[i + 1] == '\'') {
          ++i;
          continue;
        }
        break;
      }
    }
    ++i;
    return i < s.size() && s[i] == ':' && (i + 1 == s.size() || s[i + 1] == ' ')
               ? i
               : std::string::npos;
  }
  if (!s.empty() && (s[0] == '[' || s[0] == '{')) return std::string::npos;
  for (i = 0; i < s.size(); ++i) {
    if (s[i] == ':' && (i + 1 == s.size() || s[i + 1] == ' ')) return i;
  }
  return std::string::npos;
}

Result<json> ParseScalar(std::string_view s, int line);

Result<std::vector<std::string>> SplitFlow(std::string_view inner, int line) {
  std::vector<std::string> parts;
  std::string cur;
  char quote = 0;
  for (size_t i = 0; i < inner.size(); ++i) {
    char c = inner[i];
    if (quote) {
      cur += c;
      if (c == '\\' && quote == '"' && i + 1 < inner.size())
        cur += inner[++i];
      else if (c == quote)
        quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
      cur += c;
    } else if (c == '[' || c == '{') {
      return Error(line, "nested flow collections are not supported");
    } else if (c == ',') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (quote) return Error(line, "unterminated quote");
  auto trim = [](std::string s) {
    size_t b = s.find_first_not_of(' '), e = s.find_last_not_of(' ');
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
  };
  for (auto& p : parts) p = trim(p);
  cur = trim(cur);
  if (!cur.empty() || !parts.empty()) parts.push_back(cur);
  return parts;
}

Result<json> ParseScalar(std::string_view s, int line) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return json(nullptr);
  char c = s.front();
  if (c == '&' || c == '*' || c == '!' || c == '|' || c == '>' || c == '%' || c == '@' ||
      c == '`') {
    return Error(line, "unsupported YAML feature at \"" + std::string(s) + "\"");
  }
  if (c == '"') {
    if (s.size() < 2 || s.back() != '"') return Error(line, "unterminated double quote");
    json v = json::parse(s, nullptr, false);
    if (v.is_discarded() || !v.is_string()) return Error(line, "bad double-quoted string");
    return v;
  }
  if (c == '\'') {
    if (s.size() < 2 || s.back() != '\'') return Error(line, "unterminated single quote");
    std::string out;
    for (size_t i = 1; i + 1 < s.size(); ++i) {
      out += s[i];
      if (s[i] == '\'') {
        if (s[i + 1] != '\'' || i + 2 >= s.size()) return Error(line, "bad single-quoted string");
        ++i;
      }
    }
    return json(out);
  }
  if (c == '[' || c == '{') {
    char close = c == '[' ? ']' : '}';
    if (s.back() != close) return Error(line, "flow collection must end on its line");
    ASSIGN_OR_RETURN(auto parts, SplitFlow(s.substr(1, s.size() - 2), line));
    json out = c == '[' ? json::array() : json::object();
    for (const std::string& p : parts) {
      if (c == '[') {
        ASSIGN_OR_RETURN(json v, ParseScalar(p, line));
        out.push_back(std::move(v));
      } else {
        size_t colon = FindKeyColon(p);
        if (colon == std::string::npos) return Error(line, "flow mapping entry needs key: value");
        ASSIGN_OR_RETURN(json k, ParseScalar(p.substr(0, colon), line));
        std::string_view rest = std::string_view(p).substr(colon + 1);
        while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
        ASSIGN_OR_RETURN(json v, ParseScalar(rest, line));
        out[k.is_string() ? k.get<std::string>() : k.dump()] = std::move(v);
      }
    }
    return out;
  }
  if (s == "true" || s == "True" || s == "TRUE") return json(true);
  if (s == "false" || s == "False" || s == "FALSE") return json(false);
  int64_t n = 0;
  const char* b = s.data();
  const char* e = s.data() + s.size();
  if (*b == '+') ++b;
  auto r = std::from_chars(b, e, n);
  if (r.ec == std::errc() && r.ptr == e && b != e) return json(n);
  return json(std::string(s));
}

class Parser {
 public:
  explicit Parser(std::vector<Line> lines) : lines_(std::move(lines)) {}

  Result<json> ParseDocument() {
    if (lines_.empty()) return json(nullptr);
    ASSIGN_OR_RETURN(json v, ParseNode(lines_[0].indent));
    if (pos_ < lines_.size()) return Error(lines_[pos_].number, "unexpected indentation");
    return v;
  }

 private:
  static bool IsItem(const Line& l) { return l.text == "-" || l.text.starts_with("- "); }

  Result<json> ParseNode(int indent) {
    const Line& l = lines_[pos_];
    if (IsItem(l)) return ParseSequence(indent);
    if (FindKeyColon(l.text) != std::string::npos) return ParseMapping(indent);
    ++pos_;
    return ParseScalar(l.text, l.number);
  }

  // The value after "key:" or "- " when nothing follows on the line.
  Result<json> ParseNested(int parent_indent, bool allow_same_indent_sequence) {
    if (pos_ >= lines_.size()) return json(nullptr);
    const Line& next = lines_[pos_];
    if (next.indent > parent_indent) return ParseNode(next.indent);
    if (allow_same_indent_sequence && next.indent == parent_indent && IsItem(next)) {
      return ParseSequence(parent_indent);
    }
    return json(nullptr);
  }

  Result<json> ParseMapping(int indent) {
    json out = json::object();
    while (pos_ < lines_.size() && lines_[pos_].indent == indent && !IsItem(lines_[pos_])) {
      Line l = lines_[pos_];
      size_t colon = FindKeyColon(l.text);
      if (colon == std::string::npos) return Error(l.number, "expected key: value");
      ASSIGN_OR_RETURN(json key, ParseScalar(l.text.substr(0, colon), l.number));
      std::string k = key.is_string() ? key.get<std::string>() : key.dump();
      if (out.contains(k)) return Error(l.number, "duplicate key " + k);
      std::string_view rest = std::string_view(l.text).substr(colon + 1);
      while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
      ++pos_;
      if (rest.empty()) {
        ASSIGN_OR_RETURN(out[k], ParseNested(indent, true));
      } else {
        ASSIGN_OR_RETURN(out[k], ParseScalar(rest, l.number));
      }
    }
    if (pos_ < lines_.size() && lines_[pos_].indent > indent) {
      return Error(lines_[pos_].number, "unexpected indentation");
    }
    return out;
  }

  Result<json> ParseSequence(int indent) {
    json out = json::array();
    while (pos_ < lines_.size() && lines_[pos_].indent == indent && IsItem(lines_[pos_])) {
      Line& l = lines_[pos_];
      if (l.text == "-") {
        ++pos_;
        ASSIGN_OR_RETURN(json v, ParseNested(indent, false));
        out.push_back(std::move(v));
        continue;
      }
      // "- rest": reparse REST as a node at the column where it starts.
      size_t skip = 1;
      while (skip < l.text.size() && l.text[skip] == ' ') ++skip;
      l.indent += static_cast<int>(skip);
      l.text = l.text.substr(skip);
      ASSIGN_OR_RETURN(json v, ParseNode(l.indent));
      out.push_back(std::move(v));
    }
    if (pos_ < lines_.size() && lines_[pos_].indent > indent) {
      return Error(lines_[pos_].number, "unexpected indentation");
    }
    return out;
  }

  std::vector<Line> lines_;
  size_t pos_ = 0;
};

}  // namespace

std::string EmitYaml(const json& value) {
  std::string out;
  if (IsEmptyCollection(value)) return value.is_object() ? "{}\n" : "[]\n";
  Emit(value, 0, out);
  return out;
}

Result<json> ParseYaml(std::string_view text) {
  std::vector<Line> lines;
  int number = 0;
  bool seen_doc = false;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view raw = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++number;
    size_t indent = raw.find_first_not_of(' ');
    if (indent == std::string_view::npos) continue;
    if (raw[indent] == '\t') return Error(number, "tabs are not allowed for indentation");
    std::string body = StripComment(raw.substr(indent));
    if (body.empty()) continue;
    if (indent == 0 && (body == "---" || body.starts_with("--- "))) {
      if (seen_doc || !lines.empty()) return Error(number, "multi-document YAML is not supported");
      seen_doc = true;
      continue;
    }
    if (indent == 0 && body == "...") break;
    if (body.starts_with("%")) return Error(number, "directives are not supported");
    lines.push_back({static_cast<int>(indent), std::move(body), number});
  }
  return Parser(std::move(lines)).ParseDocument();
}

}  // namespace imgfs::gpu
