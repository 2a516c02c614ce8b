// The container state directory: ROOT/ID/{state.json, exec.fifo}.
//
// state.json is written atomically (write-to-temp + rename), so a reader sees the previous or the
// next state, never a torn one. The live status is never stored: it is derived from the init
// process (alive, not a zombie, same start time as recorded, which survives PID reuse), the exec
// FIFO (present = created) and the freezer (paused). Not safe for concurrent writers to one id;
// create takes an exclusive mkdir of ROOT/ID, so two creates of one id cannot both succeed.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace imgfs::runc {

enum class ContainerStatus { kCreating, kCreated, kRunning, kStopped, kPaused };
const char* StatusName(ContainerStatus s);

struct ContainerState {
  std::string id;
  int pid = 0;              // init's host pid; 0 while creating
  uint64_t start_time = 0;  // field 22 of /proc/PID/stat, in clock ticks
  std::string bundle;       // absolute
  std::string rootfs;       // absolute
  std::string created;      // RFC3339Nano UTC
  std::string owner;        // "" like runc for root
  std::map<std::string, std::string> annotations;
  std::map<std::string, std::string> cgroup_paths;  // controller ("unified" for v2) -> dir
  bool cgroup_v2 = false;  // the container's freezer/limits are the unified ones
  bool creating = false;
  std::string config_json;  // the config.json it was created from
};

// Serialisation of the runtime's own record (round-trips every field).
std::string StateToJson(const ContainerState& s);
Result<ContainerState> StateFromJson(const std::string& text);
// The OCI state document `runc state` prints, with the live STATUS.
std::string OciStateJson(const ContainerState& s, ContainerStatus status);

// Validates a container id the way runc does: [A-Za-z0-9_+.-]+, not "." or "..".
Status ValidateId(const std::string& id);

class StateStore {
 public:
  explicit StateStore(std::string root) : root_(std::move(root)) {}

  const std::string& root() const { return root_; }
  std::string Dir(const std::string& id) const { return root_ + "/" + id; }
  std::string FifoPath(const std::string& id) const { return Dir(id) + "/exec.fifo"; }

  // Creates ROOT/ID (mode 0711); AlreadyExists if it is there.
  Status CreateDir(const std::string& id) const;
  Status Save(const ContainerState& s) const;
  // NotFound("container does not exist") when there is no state.
  Result<ContainerState> Load(const std::string& id) const;
  Status Remove(const std::string& id) const;
  Result<std::vector<std::string>> List() const;

 private:
  std::string root_;
};

// Reads /proc/PID/stat: the start time (field 22) and the state letter (field 3).
struct ProcStat {
  uint64_t start_time = 0;
  char state = '?';
};
Result<ProcStat> ReadProcStat(int pid);

// Derives the live status of S (see the file comment).
ContainerStatus LiveStatus(const ContainerState& s, const StateStore& store);

// Current time as RFC3339 with nanoseconds, UTC ("2024-01-02T03:04:05.123456789Z").
std::string NowRfc3339Nano();

}  // namespace imgfs::runc
