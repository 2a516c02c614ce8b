// The programs that the imgfs commands run, found beside the running one: an installation puts
// them in one directory (/usr/bin), a build tree puts imgfs and imgfs-snapshotter in BUILD/imgfs/.
// Thread-safety: SetImgfsProgram is for main's thread before any other starts; the rest is safe
// for concurrent use.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace imgfs::cli {

// DIR/NAME, where DIR is the directory of the running program (/proc/self/exe), when that is an
// executable file; else nullopt (the caller may look NAME up in PATH).
std::optional<std::string> SiblingProgram(std::string_view name);

// The imgfs program that `imgfs daemon` is started from (as a path for execvp): this very program
// (/proc/self/exe) unless SetImgfsProgram named another. imgfs-snapshotter, which starts the
// store's daemon without being imgfs, names the imgfs beside it.
const std::string& ImgfsProgram();
void SetImgfsProgram(std::string program);

}  // namespace imgfs::cli
