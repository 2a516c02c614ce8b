// The containers of `imgfs run` as `imgfs ps`, `imgfs stop` and `imgfs logs` see them: each run
// has a directory STORE/containers/ID (mode 0700, root's) holding its bundle, its overlay dirs,
// a record `state.json` written by the process that watches it (the monitor: `imgfs run` itself,
// or for -d its detached child) and, for -d, the container's output in `log`.
//
// A record names the monitor by PID and start time (field 22 of /proc/PID/stat), so a recycled
// PID is never taken for the monitor: a record whose monitor is gone without writing "exited"
// reads as "gone" (killed by SIGKILL, or the node rebooted).
// Thread-safety: free functions over files; records are replaced atomically (rename).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace imgfs::cli {

struct ContainerRecord {
  std::string id, image;
  std::vector<std::string> command;
  int64_t created = 0;  // unix seconds
  pid_t monitor_pid = 0;
  uint64_t monitor_start = 0;         // the monitor's start time in clock ticks since boot
  std::string status = "created";     // created, running, exited
  int exit_code = 0;                  // when exited: the container's, or 128+signal
  int64_t finished = 0;               // when exited: unix seconds
  bool detached = false;              // -d: output in `log`; the record stays after exit
  std::string runtime, runtime_root;  // what ran it: `RUNTIME --root ROOT delete --force ID`

  // "running" while the monitor lives, "exited" once written, "gone" when the monitor died
  // without writing it.
  std::string LiveStatus() const;
};

// STORE/containers/ID, after checking ID is a container name (letters, digits, '_', '.', '-'; at
// most 64; not starting with '.').
Result<std::string> ContainerDir(const std::string& store, const std::string& id);
Status CheckContainerId(const std::string& id);

Status WriteRecord(const std::string& dir, const ContainerRecord& record);
Result<ContainerRecord> ReadRecord(const std::string& dir);
// Every container of STORE with a readable record, by creation time.
std::vector<ContainerRecord> ListContainers(const std::string& store);

// Runs `RUNTIME --root STORE/runtime ARGS...` for the record's container (its output
// discarded); refuses a record whose runtime root is not STORE's.
Status RuntimeCommand(const std::string& store, const ContainerRecord& record,
                      const std::vector<std::string>& args);

// Removes a container that is not running (exited, or gone: its monitor was killed before it
// could clean up): the runtime's state (`delete --force`), the overlay at DIR/rootfs if still
// mounted (detached, that exact path only), then DIR. Refuses a running one.
Status RemoveContainer(const std::string& store, const ContainerRecord& record);

// The start time of PID (clock ticks since boot), 0 when it does not exist.
uint64_t ProcessStartTime(pid_t pid);

}  // namespace imgfs::cli
