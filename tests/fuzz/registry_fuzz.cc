// Fuzzes what a registry, a token server or a user hands the registry client: image references,
// WWW-Authenticate challenges, token answers, base64, imgfs artifact manifests and referrers
// indexes. Nothing may crash or throw; what parses must round-trip:
//   a reference prints to text that parses to the same reference;
//   base64 that decodes re-encodes to the same text;
//   an artifact that parses builds a manifest that parses to the same blobs;
//   a referrers index that takes a new entry lists it as the newest imgfs artifact.
// Input: the first byte picks the parser, the rest is its text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "imgfs/registry/artifact.h"
#include "imgfs/registry/auth.h"
#include "imgfs/registry/reference.h"

using namespace imgfs;
using namespace imgfs::registry;

namespace {

void Require(bool cond) {
  if (!cond) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0: {
      for (bool repo_only : {false, true}) {
        Result<Reference> r = ParseReference(text, repo_only);
        if (!r.ok()) continue;
        Result<Reference> again = ParseReference(r->ToString(), repo_only);
        Require(again.ok() && again->host == r->host && again->repository == r->repository &&
                again->ManifestReference() == r->ManifestReference());
      }
      break;
    }
    case 1:
      for (const Challenge& c : ParseWwwAuthenticate(text)) Require(!c.scheme.empty());
      break;
    case 2: {
      Result<Token> t = ParseTokenResponse(text);
      if (t.ok()) {
        Require(!t->value.empty() && t->lifetime.count() >= 60);
        for (char c : t->value) Require(c > 0x20 && c < 0x7f);
      }
      break;
    }
    case 3: {
      Result<std::string> d = Base64Decode(text);
      if (d.ok()) Require(Base64Encode(*d) == text);
      (void)ParseCredsFlag(text);
      break;
    }
    case 4: {
      Result<Artifact> a = ParseArtifactManifest(text, 1 << 20);
      if (!a.ok()) break;
      Result<Artifact> b = ParseArtifactManifest(BuildArtifactManifest(*a), 1 << 20);
      Require(b.ok() && b->index.digest == a->index.digest && b->packs.size() == a->packs.size() &&
              b->trace.has_value() == a->trace.has_value() &&
              b->subject.has_value() == a->subject.has_value());
      break;
    }
    case 5: {
      (void)LatestImgfsReferrer(text, 1 << 20);
      const Digest added = Sha256(text);
      Result<std::string> index = AddReferrer(text, added, 7, added);
      if (index.ok()) {
        Result<BlobRef> latest = LatestImgfsReferrer(*index, 1 << 21);
        Require(latest.ok() && latest->digest == added);
      }
      break;
    }
  }
  return 0;
}
