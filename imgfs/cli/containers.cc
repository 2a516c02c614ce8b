#include "imgfs/cli/containers.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/fd.h"

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
                      {"detached", r.detached}};
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
