#include "imgfs/registry/auth.h"

#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/fd.h"

namespace imgfs::registry {
namespace {

constexpr size_t kMaxCredentialFile = 1u << 20;
constexpr size_t kMaxTokenAnswer = 1u << 20;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~/").find(c) != std::string_view::npos;
}

void SkipSpace(std::string_view s, size_t* i) {
  while (*i < s.size() && (s[*i] == ' ' || s[*i] == '\t')) ++*i;
}

// A token or a quoted string at *i; false when neither is there.
bool ReadValue(std::string_view s, size_t* i, std::string* out) {
  out->clear();
  if (*i < s.size() && s[*i] == '"') {
    for (++*i; *i < s.size(); ++*i) {
      char c = s[*i];
      if (c == '"') {
        ++*i;
        return true;
      }
      if (c == '\\' && *i + 1 < s.size()) c = s[++*i];
      out->push_back(c);
    }
    return false;  // unterminated
  }
  size_t start = *i;
  while (*i < s.size() && (IsTokenChar(s[*i]) || s[*i] == '=' || s[*i] == ':')) ++*i;
  *out = std::string(s.substr(start, *i - start));
  return *i > start;
}

// "https://host:5000/v1/" -> "host:5000"
std::string HostOfAuthKey(std::string_view key) {
  if (size_t scheme = key.find("://"); scheme != std::string_view::npos)
    key = key.substr(scheme + 3);
  if (size_t slash = key.find('/'); slash != std::string_view::npos) key = key.substr(0, slash);
  return std::string(key);
}

Result<std::optional<Credentials>> FindInFile(const std::string& path, std::string_view host) {
  Result<std::string> text = ReadFileToString(path, kMaxCredentialFile);
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound) return std::optional<Credentials>();
    return text.status().WithContext("credentials file " + path);
  }
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("credentials file " + path + ": " + why);
  };
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  auto auths = j.find("auths");
  if (auths == j.end()) return std::optional<Credentials>();
  if (!auths->is_object()) return bad("\"auths\" is not an object");
  for (const auto& [key, entry] : auths->items()) {
    if (HostOfAuthKey(key) != host) continue;
    const std::string where = "entry \"" + key + "\"";
    if (!entry.is_object()) return bad(where + " is not an object");
    Credentials c;
    auto auth = entry.find("auth");
    if (auth != entry.end() && auth->is_string() && !auth->get<std::string>().empty()) {
      Result<std::string> decoded = Base64Decode(auth->get<std::string>());
      if (!decoded.ok()) return bad(where + ": \"auth\" is not base64");
      size_t colon = decoded->find(':');
      if (colon == std::string::npos || colon == 0)
        return bad(where + ": \"auth\" is not base64 of USER:PASSWORD");
      c.username = decoded->substr(0, colon);
      c.password = decoded->substr(colon + 1);
      return std::optional<Credentials>(std::move(c));
    }
    auto user = entry.find("username"), pass = entry.find("password");
    if (user != entry.end() && pass != entry.end() && user->is_string() && pass->is_string() &&
        !user->get<std::string>().empty()) {
      c.username = user->get<std::string>();
      c.password = pass->get<std::string>();
      return std::optional<Credentials>(std::move(c));
    }
    // An entry without usable credentials (e.g. a credential helper's): keep looking.
  }
  return std::optional<Credentials>();
}

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::vector<Challenge> ParseWwwAuthenticate(std::string_view s) {
  std::vector<Challenge> out;
  size_t i = 0;
  while (i < s.size()) {
    SkipSpace(s, &i);
    while (i < s.size() && (s[i] == ',' || s[i] == ' ')) ++i;
    size_t start = i;
    while (i < s.size() && IsTokenChar(s[i])) ++i;
    if (i == start) break;
    Challenge ch;
    ch.scheme = Lower(s.substr(start, i - start));
    // auth-params: name=value, separated by commas, until the next scheme token.
    while (true) {
      size_t save = i;
      SkipSpace(s, &i);
      if (i < s.size() && s[i] == ',') ++i;
      SkipSpace(s, &i);
      size_t name_start = i;
      while (i < s.size() && IsTokenChar(s[i])) ++i;
      std::string name = Lower(s.substr(name_start, i - name_start));
      SkipSpace(s, &i);
      if (name.empty() || i >= s.size() || s[i] != '=') {
        i = save;  // not a parameter: the next challenge (or the end)
        break;
      }
      ++i;
      SkipSpace(s, &i);
      std::string value;
      if (!ReadValue(s, &i, &value)) {
        out.push_back(std::move(ch));
        return out;
      }
      ch.params[name] = std::move(value);
    }
    out.push_back(std::move(ch));
    if (i < s.size() && s[i] != ',' && s[i] != ' ') break;  // garbage: stop
  }
  return out;
}

Result<Token> ParseTokenResponse(std::string_view text) {
  if (text.size() > kMaxTokenAnswer) return Status::InvalidArgument("token answer too large");
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Status::InvalidArgument("token answer is not a JSON object");
  Token t;
  for (const char* key : {"token", "access_token"}) {
    auto it = j.find(key);
    if (it != j.end() && it->is_string() && !it->get<std::string>().empty()) {
      t.value = it->get<std::string>();
      break;
    }
  }
  if (t.value.empty()) return Status::InvalidArgument("token answer holds no token");
  for (char c : t.value)
    if (c < 0x21 || c > 0x7e)
      return Status::InvalidArgument("token has characters a header cannot hold");
  auto exp = j.find("expires_in");
  if (exp != j.end() && exp->is_number_integer()) {
    int64_t secs = exp->get<int64_t>();
    if (secs > 60) t.lifetime = std::chrono::seconds(std::min<int64_t>(secs, 86400 * 365));
  }
  return t;
}

Result<Credentials> ParseCredsFlag(std::string_view text) {
  size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0)
    return Status::InvalidArgument("--creds wants USER:PASSWORD");
  return Credentials{std::string(text.substr(0, colon)), std::string(text.substr(colon + 1))};
}

CredentialFiles CredentialFiles::FromEnvironment() {
  CredentialFiles f;
  if (const char* p = std::getenv("REGISTRY_AUTH_FILE"); p && *p) f.paths.emplace_back(p);
  if (const char* p = std::getenv("XDG_RUNTIME_DIR"); p && *p)
    f.paths.push_back(std::string(p) + "/containers/auth.json");
  if (const char* p = std::getenv("HOME"); p && *p)
    f.paths.push_back(std::string(p) + "/.docker/config.json");
  return f;
}

Result<std::optional<Credentials>> FindCredentials(const CredentialFiles& files,
                                                   std::string_view host) {
  for (const std::string& path : files.paths) {
    ASSIGN_OR_RETURN(std::optional<Credentials> c, FindInFile(path, host));
    if (c) return c;
  }
  return std::optional<Credentials>();
}

std::string Base64Encode(std::string_view data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  for (size_t i = 0; i < data.size(); i += 3) {
    uint32_t n = static_cast<uint8_t>(data[i]) << 16;
    if (i + 1 < data.size()) n |= static_cast<uint8_t>(data[i + 1]) << 8;
    if (i + 2 < data.size()) n |= static_cast<uint8_t>(data[i + 2]);
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(i + 1 < data.size() ? kAlphabet[(n >> 6) & 63] : '=');
    out.push_back(i + 2 < data.size() ? kAlphabet[n & 63] : '=');
  }
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return Status::InvalidArgument("base64: length not a multiple of 4");
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = text[i + k];
      if (c == '=' && i + 4 == text.size() && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad) return Status::InvalidArgument("base64: data after padding");
      v[k] = Base64Value(c);
      if (v[k] < 0) return Status::InvalidArgument("base64: invalid character");
    }
    // Bits under the padding must be zero: one text per byte string.
    if ((pad == 1 && (v[2] & 3) != 0) || (pad == 2 && (v[1] & 15) != 0))
      return Status::InvalidArgument("base64: non-zero bits under the padding");
    uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out.push_back(static_cast<char>(n >> 16));
    if (pad < 2) out.push_back(static_cast<char>((n >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(n & 0xff));
  }
  return out;
}

}  // namespace imgfs::registry
