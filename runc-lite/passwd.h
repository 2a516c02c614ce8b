// Users and groups of a container, from the /etc/passwd and /etc/group inside its rootfs (read
// with every path component resolved inside the rootfs: a symlinked /etc/passwd cannot point at
// the host's). Used for `exec --user NAME[:GROUP]` and for HOME. The files are attacker-written:
// lines that do not parse are skipped, ids above kMaxId are refused, reads are capped at 1 MiB.
// Thread-compatible (pure functions over files).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace imgfs::runc {

struct PasswdEntry {
  std::string name;
  uint32_t uid = 0, gid = 0;
  std::string home;
};

// Parses passwd TEXT; returns the first entry whose name is NAME (or whose uid is UID).
std::optional<PasswdEntry> FindPasswdEntry(const std::string& text, const std::string& name);
std::optional<PasswdEntry> FindPasswdEntry(const std::string& text, uint32_t uid);
// The gid of group NAME in group TEXT.
std::optional<uint32_t> FindGroupId(const std::string& text, const std::string& name);
// The gids of the groups in group TEXT that list USER as a member.
std::vector<uint32_t> SupplementaryGroups(const std::string& text, const std::string& user);

// ROOTFS/REL read inside ROOTFS (empty when missing).
std::string ReadContainerFile(const std::string& rootfs, const char* rel);

struct ResolvedUser {
  uint32_t uid = 0, gid = 0;
  std::vector<uint32_t> additional_gids;
  std::string home;  // "" when the user has no passwd entry
};
// Resolves SPEC, "USER[:GROUP]" where each part is a name or a number, as runc does: a name must
// exist in the container's /etc/passwd (/etc/group); a numeric user without an entry keeps gid 0
// (or the GROUP given). NotFound / InvalidArgument otherwise.
Result<ResolvedUser> ResolveContainerUser(const std::string& rootfs, const std::string& spec);

}  // namespace imgfs::runc
