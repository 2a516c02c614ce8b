#include "imgfs/registry/reference.h"

#include <cctype>
#include <string>

namespace imgfs::registry {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// One path component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*
bool IsValidComponent(std::string_view c) {
  if (c.empty() || !IsLowerAlnum(c.front()) || !IsLowerAlnum(c.back())) return false;
  for (size_t i = 0; i < c.size();) {
    if (IsLowerAlnum(c[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < c.size() && !IsLowerAlnum(c[j])) ++j;
    std::string_view sep = c.substr(i, j - i);
    bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
    if (!(sep == "." || sep == "_" || sep == "__" || dashes)) return false;
    i = j;
  }
  return true;
}

bool IsValidRepository(std::string_view repo) {
  if (repo.empty() || repo.size() > 255) return false;
  for (size_t start = 0;;) {
    size_t slash = repo.find('/', start);
    if (!IsValidComponent(
            repo.substr(start, slash == std::string_view::npos ? slash : slash - start)))
      return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

// A DNS name or IPv4 address with an optional port, or a bracketed IPv6 address with one.
bool IsValidHost(std::string_view host) {
  if (host.empty() || host.size() > 255) return false;
  std::string_view name = host, port;
  if (host.front() == '[') {
    size_t close = host.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : host.substr(1, close - 1))
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')) return false;
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return false;
    port = rest.empty() ? rest : rest.substr(1);
    if (!rest.empty() && port.empty()) return false;
    name = {};
  } else if (size_t colon = host.find(':'); colon != std::string_view::npos) {
    name = host.substr(0, colon);
    port = host.substr(colon + 1);
    if (port.empty()) return false;
  }
  for (char c : port)
    if (c < '0' || c > '9') return false;
  if (port.size() > 5 || (!port.empty() && std::stoul(std::string(port)) > 65535)) return false;
  if (host.front() == '[') return true;
  if (name.empty() || name.front() == '-' || name.front() == '.' || name.back() == '.')
    return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) return false;
  return true;
}

}  // namespace

bool IsValidTag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128) return false;
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (!word(tag.front())) return false;
  for (char c : tag)
    if (!(word(c) || c == '.' || c == '-')) return false;
  return true;
}

std::string Reference::ManifestReference() const { return digest ? digest->ToString() : tag; }

std::string Reference::ToString() const {
  std::string s = std::string(kDockerScheme) + host + "/" + repository;
  if (digest) return s + "@" + digest->ToString();
  if (!tag.empty()) s += ":" + tag;
  return s;
}

Result<Reference> ParseReference(std::string_view text, bool repository_only) {
  const std::string quoted = "image reference \"" + std::string(text.substr(0, 300)) + "\"";
  const std::string form = repository_only ? "docker://HOST[:PORT]/REPOSITORY"
                                           : "docker://HOST[:PORT]/REPOSITORY[:TAG|@DIGEST]";
  if (!text.starts_with(kDockerScheme))
    return Status::InvalidArgument(quoted + ": expected " + form);
  std::string_view rest = text.substr(kDockerScheme.size());
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos)
    return Status::InvalidArgument(quoted + ": no repository (expected " + form + ")");
  Reference ref;
  ref.host = std::string(rest.substr(0, slash));
  if (!IsValidHost(ref.host))
    return Status::InvalidArgument(quoted + ": \"" + ref.host + "\" is not a HOST[:PORT]");
  rest = rest.substr(slash + 1);

  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    Result<Digest> d = Digest::Parse(rest.substr(at + 1));
    if (!d.ok())
      return Status::InvalidArgument(quoted + ": the digest is not sha256:<64 hex digits>");
    ref.digest = *d;
    rest = rest.substr(0, at);
  }
  // A tag follows the last ':' after the last '/'.
  size_t last_slash = rest.rfind('/');
  size_t colon = rest.find(':', last_slash == std::string_view::npos ? 0 : last_slash);
  if (colon != std::string_view::npos) {
    ref.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (!IsValidTag(ref.tag))
      return Status::InvalidArgument(quoted + ": \"" + ref.tag + "\" is not a valid tag");
  }
  ref.repository = std::string(rest);
  if (!IsValidRepository(ref.repository))
    return Status::InvalidArgument(quoted + ": \"" + ref.repository +
                                   "\" is not a repository name (lower-case letters, digits, "
                                   "'.', '_', '-' and '/')");
  if (repository_only) {
    if (ref.digest || !ref.tag.empty())
      return Status::InvalidArgument(quoted + ": name a repository without tag or digest (" + form +
                                     ")");
    return ref;
  }
  if (!ref.digest && ref.tag.empty()) ref.tag = "latest";
  return ref;
}

}  // namespace imgfs::registry
