// The pieces of registry authentication that are logic, not transport (no curl here, so unit
// tests and fuzzers drive them directly):
//   - WWW-Authenticate challenges (RFC 7235): `Bearer realm="...",service="...",scope="..."`,
//     `Basic realm="..."`;
//   - token-server answers ({"token"|"access_token", "expires_in", ...});
//   - credentials as the container tools store them: `--creds USER:PASS`, then the "auths"
//     entries of $REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json and
//     ~/.docker/config.json, in that order; an entry is found by registry host ("host:port",
//     with or without an https:// prefix or a path after it) and holds a base64 "auth" of
//     "user:password" (or "username" and "password" fields);
//   - base64 (RFC 4648, with padding).
// Everything parsed here comes from a server or a file someone else wrote: malformed input is a
// Status, never a crash. Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace imgfs::registry {

struct Credentials {
  std::string username;
  std::string password;
};

struct Challenge {
  std::string scheme;                         // lower case: "bearer", "basic"
  std::map<std::string, std::string> params;  // lower-case names: "realm", "service", "scope"
};

// Every challenge of one WWW-Authenticate header value; malformed text yields what parsed
// before it (possibly nothing).
std::vector<Challenge> ParseWwwAuthenticate(std::string_view value);

struct Token {
  std::string value;
  std::chrono::seconds lifetime{60};  // "expires_in", at least 60 s as the token spec says
};
// A token server's JSON answer.
Result<Token> ParseTokenResponse(std::string_view json);

// "USER:PASS" from --creds (the password may contain ':'; the user may not be empty).
Result<Credentials> ParseCredsFlag(std::string_view text);

// Where credentials files are looked for; FromEnvironment() reads REGISTRY_AUTH_FILE,
// XDG_RUNTIME_DIR and HOME.
struct CredentialFiles {
  std::vector<std::string> paths;  // in order of precedence
  static CredentialFiles FromEnvironment();
};

// The first entry for `host` in the files (missing files are skipped). A file that exists but
// is not a JSON object with a valid "auths" entry for `host` is InvalidArgument naming it.
Result<std::optional<Credentials>> FindCredentials(const CredentialFiles& files,
                                                   std::string_view host);

std::string Base64Encode(std::string_view data);
Result<std::string> Base64Decode(std::string_view text);

}  // namespace imgfs::registry
