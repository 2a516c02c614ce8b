#include "runc-lite/state_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/fd.h"
#include "runc-lite/cgroups.h"

namespace imgfs::runc {

using nlohmann::json;

const char* StatusName(ContainerStatus s) {
  switch (s) {
    case ContainerStatus::kCreating:
      return "creating";
    case ContainerStatus::kCreated:
      return "created";
    case ContainerStatus::kRunning:
      return "running";
    case ContainerStatus::kStopped:
      return "stopped";
    case ContainerStatus::kPaused:
      return "paused";
  }
  return "unknown";
}

std::string StateToJson(const ContainerState& s) {
  json j = {{"id", s.id},
            {"pid", s.pid},
            {"start_time", s.start_time},
            {"bundle", s.bundle},
            {"rootfs", s.rootfs},
            {"created", s.created},
            {"owner", s.owner},
            {"annotations", s.annotations},
            {"cgroup_paths", s.cgroup_paths},
            {"cgroup_v2", s.cgroup_v2},
            {"creating", s.creating},
            {"config", s.config_json}};
  return j.dump();
}

Result<ContainerState> StateFromJson(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::Corruption("state.json is not JSON");
  ContainerState s;
  try {
    s.id = j.at("id").get<std::string>();
    s.pid = j.at("pid").get<int>();
    s.start_time = j.at("start_time").get<uint64_t>();
    s.bundle = j.at("bundle").get<std::string>();
    s.rootfs = j.at("rootfs").get<std::string>();
    s.created = j.at("created").get<std::string>();
    s.owner = j.value("owner", "");
    s.annotations = j.value("annotations", std::map<std::string, std::string>{});
    s.cgroup_paths = j.value("cgroup_paths", std::map<std::string, std::string>{});
    s.cgroup_v2 = j.value("cgroup_v2", false);
    s.creating = j.value("creating", false);
    s.config_json = j.value("config", "");
  } catch (const json::exception& e) {
    return Status::Corruption(std::string("state.json: ") + e.what());
  }
  return s;
}

std::string OciStateJson(const ContainerState& s, ContainerStatus status) {
  json j = {{"ociVersion", "1.2.0"},
            {"id", s.id},
            {"pid", status == ContainerStatus::kStopped ? 0 : s.pid},
            {"status", StatusName(status)},
            {"bundle", s.bundle},
            {"rootfs", s.rootfs},
            {"created", s.created},
            {"owner", s.owner}};
  if (!s.annotations.empty()) j["annotations"] = s.annotations;
  return j.dump(2);
}

Status ValidateId(const std::string& id) {
  if (id.empty()) return Status::InvalidArgument("container id cannot be empty");
  if (id == "." || id == ".." || id.size() > 1024)
    return Status::InvalidArgument("invalid container id format: " + id);
  for (char c : id) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '+' || c == '-' || c == '.'))
      return Status::InvalidArgument("invalid container id format: " + id);
  }
  return Status::Ok();
}

Status StateStore::CreateDir(const std::string& id) const {
  for (size_t pos = 1; pos <= root_.size(); ++pos) {
    if (pos != root_.size() && root_[pos] != '/') continue;
    std::string prefix = root_.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST)
      return Status::FromErrno(errno, "mkdir " + prefix);
  }
  std::string dir = Dir(id);
  if (::mkdir(dir.c_str(), 0711) != 0) {
    if (errno == EEXIST) return Status::AlreadyExists("container with id exists: " + id);
    return Status::FromErrno(errno, "mkdir " + dir);
  }
  return Status::Ok();
}

Status StateStore::Save(const ContainerState& s) const {
  // No fsync: the root is a tmpfs (/run) and a torn write is excluded by the rename.
  std::string path = Dir(s.id) + "/state.json";
  std::string tmp = path + ".tmp";
  {
    ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600));
    RETURN_IF_ERROR(WriteFull(fd.get(), StateToJson(s)).WithContext(tmp));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::FromErrno(errno, "rename " + tmp);
  return Status::Ok();
}

Result<ContainerState> StateStore::Load(const std::string& id) const {
  RETURN_IF_ERROR(ValidateId(id));
  Result<std::string> text = ReadFileToString(Dir(id) + "/state.json", 64 << 20);
  if (!text.ok()) {
    if (text.status().error_number() == ENOENT || text.status().code() == Code::kNotFound)
      return Status::NotFound("container does not exist");
    return text.status();
  }
  return StateFromJson(*text);
}

Status StateStore::Remove(const std::string& id) const {
  std::string dir = Dir(id);
  for (const char* f : {"state.json", "state.json.tmp", "exec.fifo"}) {
    std::string p = dir + "/" + f;
    ::unlink(p.c_str());
  }
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) return Status::FromErrno(errno, "rmdir " + dir);
  return Status::Ok();
}

Result<std::vector<std::string>> StateStore::List() const {
  std::vector<std::string> ids;
  DIR* d = ::opendir(root_.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return ids;
    return Status::FromErrno(errno, "opendir " + root_);
  }
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (ValidateId(name).ok()) ids.push_back(name);
  }
  ::closedir(d);
  std::sort(ids.begin(), ids.end());
  return ids;
}

Result<ProcStat> ReadProcStat(int pid) {
  ASSIGN_OR_RETURN(std::string text,
                   ReadFileToString("/proc/" + std::to_string(pid) + "/stat", 4096));
  // comm may contain spaces and ')': the fields start after the last ')'.
  size_t close = text.rfind(')');
  if (close == std::string::npos || close + 2 >= text.size())
    return Status::Corruption("bad /proc/PID/stat");
  ProcStat ps;
  ps.state = text[close + 2];
  // Fields after comm: 3=state ... 22=starttime, i.e. the 20th token after ')'.
  const char* p = text.c_str() + close + 2;
  for (int field = 3; field < 22 && *p; ++field) {
    p = strchr(p, ' ');
    if (p == nullptr) return Status::Corruption("short /proc/PID/stat");
    ++p;
  }
  ps.start_time = strtoull(p, nullptr, 10);
  return ps;
}

ContainerStatus LiveStatus(const ContainerState& s, const StateStore& store) {
  if (s.pid <= 0) return s.creating ? ContainerStatus::kCreating : ContainerStatus::kStopped;
  Result<ProcStat> ps = ReadProcStat(s.pid);
  if (!ps.ok() || ps->start_time != s.start_time || ps->state == 'Z' || ps->state == 'X')
    return ContainerStatus::kStopped;
  if (s.creating) return ContainerStatus::kCreating;
  struct stat st;
  if (::stat(store.FifoPath(s.id).c_str(), &st) == 0) return ContainerStatus::kCreated;
  if (CgroupIsFrozen(s)) return ContainerStatus::kPaused;
  return ContainerStatus::kRunning;
}

std::string NowRfc3339Nano() {
  timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  tm t;
  ::gmtime_r(&ts.tv_sec, &t);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
  snprintf(buf + n, sizeof buf - n, ".%09ldZ", ts.tv_nsec);
  return buf;
}

}  // namespace imgfs::runc
