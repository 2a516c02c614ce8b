#include "runc-lite/passwd.h"

#include <fcntl.h>
#include <unistd.h>

#include <sstream>

#include "core/fd.h"
#include "core/numbers.h"
#include "runc-lite/child_util.h"
#include "runc-lite/spec.h"

namespace imgfs::runc {
namespace {

std::vector<std::string> Fields(const std::string& line) {
  std::vector<std::string> f;
  size_t start = 0;
  for (;;) {
    size_t colon = line.find(':', start);
    f.push_back(line.substr(start, colon - start));
    if (colon == std::string::npos) return f;
    start = colon + 1;
  }
}

std::optional<uint32_t> Id(const std::string& s) {
  Result<uint64_t> v = ParseUint64(s, 0, kMaxId, "id");
  if (!v.ok()) return std::nullopt;
  return static_cast<uint32_t>(*v);
}

template <typename Match>
std::optional<PasswdEntry> FindEntry(const std::string& text, Match match) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f = Fields(line);
    if (f.size() < 7 || f[0].empty()) continue;
    std::optional<uint32_t> uid = Id(f[2]), gid = Id(f[3]);
    if (!uid || !gid) continue;
    PasswdEntry e{f[0], *uid, *gid, f[5]};
    if (match(e)) return e;
  }
  return std::nullopt;
}

}  // namespace

std::optional<PasswdEntry> FindPasswdEntry(const std::string& text, const std::string& name) {
  return FindEntry(text, [&](const PasswdEntry& e) { return e.name == name; });
}

std::optional<PasswdEntry> FindPasswdEntry(const std::string& text, uint32_t uid) {
  return FindEntry(text, [&](const PasswdEntry& e) { return e.uid == uid; });
}

std::optional<uint32_t> FindGroupId(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f = Fields(line);
    if (f.size() >= 3 && f[0] == name) return Id(f[2]);
  }
  return std::nullopt;
}

std::vector<uint32_t> SupplementaryGroups(const std::string& text, const std::string& user) {
  std::vector<uint32_t> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f = Fields(line);
    if (f.size() < 4) continue;
    std::optional<uint32_t> gid = Id(f[2]);
    std::istringstream members(f[3]);
    std::string m;
    while (gid && std::getline(members, m, ','))
      if (m == user) out.push_back(*gid);
  }
  return out;
}

std::string ReadContainerFile(const std::string& rootfs, const char* rel) {
  int root = ::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return "";
  UniqueFd root_fd(root);
  UniqueFd fd(child::OpenInRoot(root, rel, O_RDONLY));
  if (!fd.valid()) return "";
  std::string text;
  char buf[4096];
  ssize_t n;
  while (text.size() < (1 << 20) && (n = ::read(fd.get(), buf, sizeof buf)) > 0)
    text.append(buf, static_cast<size_t>(n));
  return text;
}

Result<ResolvedUser> ResolveContainerUser(const std::string& rootfs, const std::string& spec) {
  size_t colon = spec.find(':');
  std::string user = spec.substr(0, colon);
  std::optional<std::string> group;
  if (colon != std::string::npos) group = spec.substr(colon + 1);
  if (user.empty() || (group && group->empty()))
    return Status::InvalidArgument("--user " + spec + ": expected USER[:GROUP]");
  const std::string passwd = ReadContainerFile(rootfs, "etc/passwd");
  ResolvedUser out;
  std::optional<PasswdEntry> entry;
  if (std::optional<uint32_t> uid = Id(user)) {
    out.uid = *uid;
    entry = FindPasswdEntry(passwd, *uid);
  } else if (user.find_first_not_of("0123456789") == std::string::npos) {
    return Status::InvalidArgument("--user " + spec + ": uid must be 0.." + std::to_string(kMaxId));
  } else {
    entry = FindPasswdEntry(passwd, user);
    if (!entry)
      return Status::NotFound("--user: no user " + user + " in the container's /etc/passwd");
    out.uid = entry->uid;
  }
  if (entry) {
    out.gid = entry->gid;
    out.home = entry->home;
  }
  const std::string groups = ReadContainerFile(rootfs, "etc/group");
  if (group) {
    if (std::optional<uint32_t> gid = Id(*group)) {
      out.gid = *gid;
    } else if (group->find_first_not_of("0123456789") == std::string::npos) {
      return Status::InvalidArgument("--user " + spec + ": gid must be 0.." +
                                     std::to_string(kMaxId));
    } else {
      std::optional<uint32_t> gid = FindGroupId(groups, *group);
      if (!gid)
        return Status::NotFound("--user: no group " + *group + " in the container's /etc/group");
      out.gid = *gid;
    }
  } else if (entry) {
    out.additional_gids = SupplementaryGroups(groups, entry->name);
  }
  return out;
}

}  // namespace imgfs::runc
