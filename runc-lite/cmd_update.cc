// runc-lite update [command options] <container-id>: new limits for a running container, from
// --resources FILE (linux.resources JSON, "-" for stdin) and/or one flag per limit.
#include "core/fd.h"
#include "core/numbers.h"
#include "runc-lite/command.h"
#include "runc-lite/container.h"

namespace imgfs::runc {
namespace {

void Declare(FlagSet& f) {
  f.String("resources", "", {"r"}, "path to a linux.resources JSON document (- for stdin)");
  // memory: a size (64M, 1G, 4096) or -1 for unlimited
  f.String("memory", "", {}, "memory limit (64M, 1G, bytes; -1 unlimited)");
  f.String("memory-swap", "", {}, "memory + swap limit (size; -1 unlimited)");
  f.String("memory-reservation", "", {}, "memory soft limit (size; -1 unlimited)");
  f.String("kernel-memory", "", {}, "accepted and ignored (deprecated in runc)");
  f.String("kernel-memory-tcp", "", {}, "accepted and ignored (deprecated in runc)");
  // cpu
  f.String("cpu-shares", "", {}, "CPU shares (relative weight)");
  f.String("cpu-quota", "", {}, "CPU CFS quota in microseconds per period (-1 unlimited)");
  f.String("cpu-period", "", {}, "CPU CFS period in microseconds");
  f.String("cpu-rt-period", "", {}, "accepted and ignored (no realtime scheduling)");
  f.String("cpu-rt-runtime", "", {}, "accepted and ignored (no realtime scheduling)");
  f.String("cpuset-cpus", "", {}, "CPUs the container may use (0-3,5)");
  f.String("cpuset-mems", "", {}, "memory nodes the container may use (0,1)");
  // pids, block I/O
  f.String("pids-limit", "", {}, "maximum number of tasks (-1 unlimited)");
  f.String("blkio-weight", "", {}, "block I/O weight, 10..1000");
  f.String("l3-cache-schema", "", {}, "accepted and ignored (no Intel RDT)");
  f.String("mem-bw-schema", "", {}, "accepted and ignored (no Intel RDT)");
}

// A size flag of update: -1 (unlimited) or a size ("64M").
Result<int64_t> MemoryValue(const FlagSet& f, const std::string& name) {
  const std::string& text = f.GetString(name);
  if (text == "-1") return -1;
  ASSIGN_OR_RETURN(uint64_t bytes, ParseSize(text, "--" + name, INT64_MAX));
  return static_cast<int64_t>(bytes);
}

Result<int> Update(const CommandContext& c) {
  const FlagSet& f = c.flags;
  Resources r;
  if (const std::string& file = f.GetString("resources"); !file.empty()) {
    ASSIGN_OR_RETURN(std::string text,
                     ReadFileToString(file == "-" ? "/dev/stdin" : file, 16 << 20));
    Result<Resources> parsed = ParseResources(text);
    if (!parsed.ok()) return parsed.status().WithContext(file);
    r = std::move(*parsed);
  }
  if (f.IsSet("memory")) {
    ASSIGN_OR_RETURN(r.memory_limit, MemoryValue(f, "memory"));
  }
  if (f.IsSet("memory-swap")) {
    ASSIGN_OR_RETURN(r.memory_swap, MemoryValue(f, "memory-swap"));
  }
  if (f.IsSet("memory-reservation")) {
    ASSIGN_OR_RETURN(r.memory_reservation, MemoryValue(f, "memory-reservation"));
  }
  for (const char* ignored : {"kernel-memory", "kernel-memory-tcp"}) {
    if (f.IsSet(ignored)) {
      ASSIGN_OR_RETURN(int64_t unused, MemoryValue(f, ignored));
      (void)unused;
    }
  }
  if (f.IsSet("cpu-shares")) {
    ASSIGN_OR_RETURN(r.cpu_shares, f.GetUint64("cpu-shares", 0, UINT64_MAX));
  }
  if (f.IsSet("cpu-quota")) {
    ASSIGN_OR_RETURN(r.cpu_quota, f.GetInt64("cpu-quota", -1, INT64_MAX));
  }
  if (f.IsSet("cpu-period")) {
    ASSIGN_OR_RETURN(r.cpu_period, f.GetUint64("cpu-period", 0, UINT64_MAX));
  }
  if (f.IsSet("cpu-rt-period")) {
    ASSIGN_OR_RETURN(uint64_t unused, f.GetUint64("cpu-rt-period", 0, UINT64_MAX));
    (void)unused;
  }
  if (f.IsSet("cpu-rt-runtime")) {
    ASSIGN_OR_RETURN(int64_t unused, f.GetInt64("cpu-rt-runtime", -1, INT64_MAX));
    (void)unused;
  }
  if (f.IsSet("cpuset-cpus")) r.cpuset_cpus = f.GetString("cpuset-cpus");
  if (f.IsSet("cpuset-mems")) r.cpuset_mems = f.GetString("cpuset-mems");
  if (f.IsSet("pids-limit")) {
    ASSIGN_OR_RETURN(r.pids_limit, f.GetInt64("pids-limit", -1, INT64_MAX));
  }
  if (f.IsSet("blkio-weight")) {
    ASSIGN_OR_RETURN(uint64_t weight, f.GetUint64("blkio-weight", 10, 1000));
    r.blkio_weight = static_cast<uint16_t>(weight);
  }
  RETURN_IF_ERROR(UpdateContainer(c.store, c.args[0], r));
  return 0;
}

}  // namespace

const Command kUpdateCommand = {"update",
                                "update [command options] <container-id>",
                                "update a running container's resource limits",
                                1,
                                Declare,
                                Update};

}  // namespace imgfs::runc
