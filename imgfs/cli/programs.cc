#include "imgfs/cli/programs.h"

#include <unistd.h>

#include <filesystem>
#include <utility>

namespace imgfs::cli {
namespace {

std::string& ImgfsProgramSetting() {
  static std::string program = "/proc/self/exe";
  return program;
}

}  // namespace

std::optional<std::string> SiblingProgram(std::string_view name) {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return std::nullopt;
  std::string path = (self.parent_path() / name).string();
  if (::access(path.c_str(), X_OK) != 0) return std::nullopt;
  return path;
}

const std::string& ImgfsProgram() { return ImgfsProgramSetting(); }

void SetImgfsProgram(std::string program) { ImgfsProgramSetting() = std::move(program); }

}  // namespace imgfs::cli
