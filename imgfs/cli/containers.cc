#include "imgfs/cli/containers.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/fd.h"
#include "imgfs/daemon/mount_point.h"

namespace imgfs::cli {

std::string ContainerRecord::LiveStatus() const {
  if (status == "exited") return status;
  return monitor_pid > 0 && ProcessStartTime(monitor_pid) == monitor_start ? "running" : "gone";
}

Status CheckContainerId(const std::string& id) {
  if (id.empty() || id.size() > 64 || id[0] == '.' ||
      id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
          std::string::npos)
    return Status::InvalidArgument("container name " + id +
                                   ": want letters, digits, '_', '.', '-' (at most 64)");
  return Status::Ok();
}

Result<std::string> ContainerDir(const std::string& store, const std::string& id) {
  RETURN_IF_ERROR(CheckContainerId(id));
  return store + "/containers/" + id;
}

Status WriteRecord(const std::string& dir, const ContainerRecord& r) {
  nlohmann::json j = {{"id", r.id},
                      {"image", r.image},
                      {"command", r.command},
                      {"created", r.created},
                      {"monitor_pid", r.monitor_pid},
                      {"monitor_start", r.monitor_start},
                      {"status", r.status},
                      {"exit_code", r.exit_code},
                      {"finished", r.finished},
                      {"detached", r.detached},
                      {"runtime", r.runtime},
                      {"runtime_root", r.runtime_root}};
  // Not fsynced: the record is for ps/stop/logs; after a machine crash it reads as "gone".
  return WriteFileAtomic(dir + "/state.json", j.dump(), 0600, /*durable=*/false);
}

Result<ContainerRecord> ReadRecord(const std::string& dir) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(dir + "/state.json", 1u << 20));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return Status::Corruption(dir + "/state.json is not a JSON object");
  ContainerRecord r;
  try {
    r.id = j.at("id").get<std::string>();
    r.image = j.at("image").get<std::string>();
    r.command = j.at("command").get<std::vector<std::string>>();
    r.created = j.at("created").get<int64_t>();
    r.monitor_pid = j.at("monitor_pid").get<pid_t>();
    r.monitor_start = j.at("monitor_start").get<uint64_t>();
    r.status = j.at("status").get<std::string>();
    r.exit_code = j.at("exit_code").get<int>();
    r.finished = j.at("finished").get<int64_t>();
    r.detached = j.at("detached").get<bool>();
    r.runtime = j.value("runtime", "");
    r.runtime_root = j.value("runtime_root", "");
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption(dir + "/state.json: " + e.what());
  }
  return r;
}

std::vector<ContainerRecord> ListContainers(const std::string& store) {
  std::vector<ContainerRecord> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(store + "/containers", ec)) {
    Result<ContainerRecord> r = ReadRecord(entry.path());
    if (r.ok() && r->id == entry.path().filename().string()) out.push_back(std::move(*r));
  }
  std::sort(out.begin(), out.end(), [](const ContainerRecord& a, const ContainerRecord& b) {
    return a.created != b.created ? a.created < b.created : a.id < b.id;
  });
  return out;
}

Status RuntimeCommand(const std::string& store, const ContainerRecord& r,
                      const std::vector<std::string>& args) {
  // Only the store's own runtime root: a record is root's, but is still not trusted to name
  // another container's state.
  if (r.runtime.empty() || r.runtime_root != store + "/runtime")
    return Status::InvalidArgument("container " + r.id + ": its record names no runtime here");
  std::vector<std::string> argv = {r.runtime, "--root", r.runtime_root};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_t pid = ::fork();
  if (pid < 0) return Status::FromErrno(errno, "fork");
  if (pid == 0) {
    int null_fd = ::open("/dev/null", O_RDWR);
    if (null_fd >= 0) ::dup2(null_fd, 1), ::dup2(null_fd, 2);
    std::vector<char*> c_argv;
    for (const std::string& a : argv) c_argv.push_back(const_cast<char*>(a.c_str()));
    c_argv.push_back(nullptr);
    ::execvp(c_argv[0], c_argv.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Status::Internal(r.runtime + " " + args[0] + " " + r.id + " failed");
  return Status::Ok();
}

Status RemoveContainer(const std::string& store, const ContainerRecord& r) {
  if (r.LiveStatus() == "running")
    return Status::InvalidArgument("container " + r.id + " is running; imgfs stop it first");
  ASSIGN_OR_RETURN(std::string dir, ContainerDir(store, r.id));
  // The runtime's own delete; nothing to delete is fine.
  if (r.LiveStatus() == "gone") (void)RuntimeCommand(store, r, {"delete", "--force", r.id});
  const std::string rootfs = dir + "/rootfs";
  for (const daemon::MountEntry& e : daemon::ReadMountTable()) {
    if (e.point == rootfs && ::umount2(rootfs.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0)
      return Status::FromErrno(errno, "unmount " + rootfs);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) return Status::FromErrno(ec.value(), "remove " + dir);
  return Status::Ok();
}

uint64_t ProcessStartTime(pid_t pid) {
  Result<std::string> stat = ReadFileToString("/proc/" + std::to_string(pid) + "/stat", 4096);
  if (!stat.ok()) return 0;
  // "PID (COMM) STATE PPID ...": COMM may hold spaces and ')', so count from the last ')'.
  size_t pos = stat->rfind(')');
  if (pos == std::string::npos) return 0;
  // Field 3 (state) follows ") "; the start time is field 22, 19 fields further on.
  size_t field = 3;
  pos += 2;
  while (field < 22 && pos < stat->size()) {
    pos = stat->find(' ', pos);
    if (pos == std::string::npos) return 0;
    ++pos;
    ++field;
  }
  return std::strtoull(stat->c_str() + pos, nullptr, 10);
}

}  // namespace imgfs::cli
