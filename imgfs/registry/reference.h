// Image references in registries: "docker://HOST[:PORT]/REPO[:TAG|@sha256:HEX]".
//
// HOST is always given (no default registry, no "library/" expansion): it is the registry this
// process talks to. REPO is the distribution spec's repository name (lower-case components
// joined by '/', each [a-z0-9] runs separated by '.', '_', '__' or '-' runs). TAG is
// [A-Za-z0-9_][A-Za-z0-9._-]{0,127}; without TAG or DIGEST the tag is "latest". When both are
// given ("repo:tag@sha256:...") the digest wins and the tag is kept for messages only.
// Value type, thread-compatible.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/digest.h"
#include "core/status.h"

namespace imgfs::registry {

inline constexpr std::string_view kDockerScheme = "docker://";

struct Reference {
  std::string host;        // "registry.example:5000", "127.0.0.1:5000", "[::1]:5000"
  std::string repository;  // "library/debian"
  std::string tag;         // "latest" when neither a tag nor a digest was given
  std::optional<Digest> digest;

  // What the manifest endpoint is asked for: the digest when there is one, else the tag.
  std::string ManifestReference() const;
  // "docker://host/repo:tag" or "docker://host/repo@sha256:..."
  std::string ToString() const;
};

// True when `text` names a registry image ("docker://...").
inline bool IsRegistryReference(std::string_view text) { return text.starts_with(kDockerScheme); }

// Parses "docker://HOST[:PORT]/REPO[:TAG|@DIGEST]". `repository_only` accepts (and requires)
// "docker://HOST/REPO" without tag or digest, the form a remote store is named by.
Result<Reference> ParseReference(std::string_view text, bool repository_only = false);

bool IsValidTag(std::string_view tag);

}  // namespace imgfs::registry
