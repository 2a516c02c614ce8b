#include "indexer/image_source.h"

#include <sys/stat.h>

namespace imgfs::indexer {
namespace {

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Splits "PATH[:REF]": the whole text is the path when it exists, else the first ':' after
// which the text before it exists (a REF like "name:tag" contains ':' itself); else the last.
void SplitRef(std::string_view text, std::string* path, std::string* ref) {
  *path = std::string(text);
  ref->clear();
  if (Exists(*path)) return;
  for (size_t colon = text.find(':'); colon != std::string_view::npos;
       colon = text.find(':', colon + 1)) {
    if (Exists(std::string(text.substr(0, colon)))) {
      *path = std::string(text.substr(0, colon));
      *ref = std::string(text.substr(colon + 1));
      return;
    }
  }
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return;
  *path = std::string(text.substr(0, colon));
  *ref = std::string(text.substr(colon + 1));
}

}  // namespace

std::string ShortDigest(const Digest& d) { return "sha256:" + d.Hex().substr(0, 12); }

Result<std::unique_ptr<ImageSource>> OpenImageSource(std::string_view source,
                                                     const SourceOptions& options) {
  std::string path, ref;
  if (StartsWith(source, "oci:")) {
    SplitRef(source.substr(4), &path, &ref);
    return OpenOciLayout(path, ref, options);
  }
  if (StartsWith(source, "docker-archive:")) {
    SplitRef(source.substr(15), &path, &ref);
    return OpenDockerArchive(path, ref, options);
  }
  return Status::InvalidArgument(
      "unsupported image source \"" + std::string(source) +
      "\" (want oci:DIR[:TAG], docker-archive:FILE, dir:PATH or docker://HOST/REPO[:TAG])");
}

}  // namespace imgfs::indexer
