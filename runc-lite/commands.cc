#include "runc-lite/commands.h"

#include <unistd.h>

#include <climits>
#include <cstdio>
#include <functional>
#include <map>

#include <nlohmann/json.hpp>

#include "core/fd.h"
#include "runc-lite/cli_flags.h"
#include "runc-lite/container.h"
#include "runc-lite/features.h"
#include "runc-lite/runtime_log.h"

namespace imgfs::runc {
namespace {

struct Ctx {
  StateStore store;
  std::vector<std::string> pos;
  FlagSet* flags;
};

void Print(const std::string& s) { (void)WriteFull(STDOUT_FILENO, s); }

Result<std::string> AbsPath(const std::string& p) {
  if (!p.empty() && p[0] == '/') return p;
  char cwd[PATH_MAX];
  if (!::getcwd(cwd, sizeof cwd)) return Status::FromErrno(errno, "getcwd");
  return p.empty() || p == "." ? std::string(cwd) : std::string(cwd) + "/" + p;
}

Status NeedArgs(const Ctx& c, size_t n, const char* usage) {
  if (c.pos.size() < n) return Status::InvalidArgument(std::string("usage: runc-lite ") + usage);
  return Status::Ok();
}

Result<CreateOptions> CreateOpts(const Ctx& c) {
  RETURN_IF_ERROR(NeedArgs(c, 1, "create|run [flags] <container-id>"));
  CreateOptions o;
  o.id = c.pos[0];
  ASSIGN_OR_RETURN(std::string bundle, AbsPath(c.flags->GetString("bundle")));
  char real[PATH_MAX];
  o.bundle = ::realpath(bundle.c_str(), real) ? real : bundle;
  if (!c.flags->GetString("pid-file").empty()) {
    ASSIGN_OR_RETURN(o.pid_file, AbsPath(c.flags->GetString("pid-file")));
  }
  o.console_socket = c.flags->GetString("console-socket");
  o.no_pivot = c.flags->GetBool("no-pivot");
  o.preserve_fds = std::atoi(c.flags->GetString("preserve-fds").c_str());
  return o;
}

void CreateFlags(FlagSet& f) {
  f.String("bundle", ".", {"b"});
  f.String("pid-file");
  f.String("console-socket");
  f.String("pidfd-socket");
  f.Bool("no-pivot");
  f.Bool("no-new-keyring");
  f.String("preserve-fds", "0");
}

Result<int64_t> ParseBytes(const std::string& s) {
  if (s == "-1") return -1;
  char* end = nullptr;
  double v = strtod(s.c_str(), &end);
  if (end == s.c_str()) return Status::InvalidArgument("invalid size " + s);
  std::string unit = end;
  for (char& ch : unit) ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
  int64_t mult = 1;
  if (unit.empty() || unit == "b") mult = 1;
  else if (unit[0] == 'k') mult = 1024;
  else if (unit[0] == 'm') mult = 1024 * 1024;
  else if (unit[0] == 'g') mult = 1024LL * 1024 * 1024;
  else return Status::InvalidArgument("invalid size " + s);
  return static_cast<int64_t>(v * static_cast<double>(mult));
}

using Handler = std::function<Result<int>(Ctx&)>;
struct Command {
  std::function<void(FlagSet&)> declare;
  Handler run;
};

const std::map<std::string, Command>& Commands() {
  static const std::map<std::string, Command> m = {
      {"create", {CreateFlags, [](Ctx& c) -> Result<int> {
         ASSIGN_OR_RETURN(CreateOptions o, CreateOpts(c));
         ASSIGN_OR_RETURN(int pid, CreateContainer(c.store, o));
         (void)pid;
         return 0;
       }}},
      {"run", {[](FlagSet& f) { CreateFlags(f); f.Bool("detach", {"d"}); f.Bool("keep"); f.Bool("no-subreaper"); },
               [](Ctx& c) -> Result<int> {
         ASSIGN_OR_RETURN(CreateOptions o, CreateOpts(c));
         return RunContainer(c.store, o, c.flags->GetBool("detach"));
       }}},
      {"start", {[](FlagSet&) {}, [](Ctx& c) -> Result<int> {
         RETURN_IF_ERROR(NeedArgs(c, 1, "start <container-id>"));
         RETURN_IF_ERROR(StartContainer(c.store, c.pos[0]));
         return 0;
       }}},
      {"kill", {[](FlagSet& f) { f.Bool("all", {"a"}); }, [](Ctx& c) -> Result<int> {
         RETURN_IF_ERROR(NeedArgs(c, 1, "kill [--all] <container-id> [signal]"));
         ASSIGN_OR_RETURN(int sig, ParseSignal(c.pos.size() > 1 ? c.pos[1] : "SIGTERM"));
         RETURN_IF_ERROR(KillContainer(c.store, c.pos[0], sig, c.flags->GetBool("all")));
         return 0;
       }}},
      {"delete", {[](FlagSet& f) { f.Bool("force", {"f"}); }, [](Ctx& c) -> Result<int> {
         RETURN_IF_ERROR(NeedArgs(c, 1, "delete [--force] <container-id>"));
         for (const std::string& id : c.pos)
           RETURN_IF_ERROR(DeleteContainer(c.store, id, c.flags->GetBool("force")));
         return 0;
       }}},
      {"state", {[](FlagSet&) {}, [](Ctx& c) -> Result<int> {
         RETURN_IF_ERROR(NeedArgs(c, 1, "state <container-id>"));
         ASSIGN_OR_RETURN(std::string json, ContainerStateJson(c.store, c.pos[0]));
         Print(json + "\n");
         return 0;
       }}},
      {"pause", {[](FlagSet&) {}, [](Ctx& c) -> Result<int> {
         RETURN_IF_ERROR(NeedArgs(c, 1, "pause <container-id>"));
         RETURN_IF_ERROR(PauseContainer(c.store, c.pos[0]));
         return 0;
       }}},
      {"resume", {[](FlagSet&) {}, [](Ctx& c) -> Result<int> {
         RETURN_IF_ERROR(NeedArgs(c, 1, "resume <container-id>"));
         RETURN_IF_ERROR(ResumeContainer(c.store, c.pos[0]));
         return 0;
       }}},
      {"ps", {[](FlagSet& f) { f.String("format", "table", {"f"}); }, [](Ctx& c) -> Result<int> {
         RETURN_IF_ERROR(NeedArgs(c, 1, "ps [--format table|json] <container-id>"));
         ASSIGN_OR_RETURN(std::vector<int> pids, ContainerPids(c.store, c.pos[0]));
         if (c.flags->GetString("format") == "json") {
           Print(nlohmann::json(pids).dump() + "\n");
           return 0;
         }
         ASSIGN_OR_RETURN(std::string table,
                          ContainerPsTable(c.store, c.pos[0], {c.pos.begin() + 1, c.pos.end()}));
         Print(table);
         return 0;
       }}},
      {"list", {[](FlagSet& f) { f.String("format", "table", {"f"}); f.Bool("quiet", {"q"}); },
                [](Ctx& c) -> Result<int> {
         ASSIGN_OR_RETURN(std::vector<std::string> ids, c.store.List());
         nlohmann::json arr = nlohmann::json::array();
         // runc aligns with tabwriter(minwidth 12, padding 3).
         std::vector<std::vector<std::string>> rows = {
             {"ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"}};
         for (const std::string& id : ids) {
           Result<ContainerState> s = c.store.Load(id);
           if (!s.ok()) continue;
           ContainerStatus st = LiveStatus(*s, c.store);
           if (c.flags->GetBool("quiet")) { Print(id + "\n"); continue; }
           arr.push_back(nlohmann::json::parse(OciStateJson(*s, st)));
           int pid = st == ContainerStatus::kStopped ? 0 : s->pid;
           rows.push_back({id, std::to_string(pid), StatusName(st), s->bundle, s->created, "root"});
         }
         std::vector<size_t> width(6, 12);
         for (const auto& row : rows)
           for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size() + 3);
         std::string table;
         for (const auto& row : rows) {
           for (size_t i = 0; i < row.size(); ++i)
             table += i + 1 < row.size() ? row[i] + std::string(width[i] - row[i].size(), ' ')
                                         : row[i] + "\n";
         }
         if (c.flags->GetBool("quiet")) return 0;
         Print(c.flags->GetString("format") == "json" ? arr.dump() + "\n" : table);
         return 0;
       }}},
      {"exec", {[](FlagSet& f) {
         f.String("console-socket"); f.String("pidfd-socket"); f.String("cwd");
         f.List("env", {"e"}); f.Bool("tty", {"t"}); f.String("user", "", {"u"});
         f.List("additional-gids", {"g"}); f.String("process", "", {"p"});
         f.Bool("detach", {"d"}); f.String("pid-file"); f.String("process-label");
         f.String("apparmor"); f.Bool("no-new-privs"); f.List("cap", {"c"});
         f.String("preserve-fds", "0"); f.List("cgroup"); f.Bool("ignore-paused");
       }, [](Ctx& c) -> Result<int> {
         RETURN_IF_ERROR(NeedArgs(c, 1, "exec [flags] <container-id> [command...]"));
         ExecOptions o;
         o.id = c.pos[0];
         o.args.assign(c.pos.begin() + 1, c.pos.end());
         o.process_file = c.flags->GetString("process");
         o.env = c.flags->GetList("env");
         o.cwd = c.flags->GetString("cwd");
         o.user = c.flags->GetString("user");
         o.tty = c.flags->GetBool("tty");
         o.detach = c.flags->GetBool("detach");
         if (!c.flags->GetString("pid-file").empty()) {
           ASSIGN_OR_RETURN(o.pid_file, AbsPath(c.flags->GetString("pid-file")));
         }
         o.console_socket = c.flags->GetString("console-socket");
         o.preserve_fds = std::atoi(c.flags->GetString("preserve-fds").c_str());
         return ExecInContainer(c.store, o);
       }}},
      {"update", {[](FlagSet& f) {
         f.String("resources", "", {"r"});
         for (const char* n : {"memory", "memory-swap", "memory-reservation", "kernel-memory",
                               "kernel-memory-tcp", "cpu-shares", "cpu-quota", "cpu-period",
                               "cpu-rt-period", "cpu-rt-runtime", "cpuset-cpus", "cpuset-mems",
                               "pids-limit", "blkio-weight", "l3-cache-schema", "mem-bw-schema"})
           f.String(n);
       }, [](Ctx& c) -> Result<int> {
         RETURN_IF_ERROR(NeedArgs(c, 1, "update [flags] <container-id>"));
         Resources r;
         const std::string& file = c.flags->GetString("resources");
         if (!file.empty()) {
           ASSIGN_OR_RETURN(std::string text, ReadFileToString(file == "-" ? "/dev/stdin" : file, 16 << 20));
           ASSIGN_OR_RETURN(r, ParseResources(text));
         }
         auto num = [&](const char* n) { return std::strtoll(c.flags->GetString(n).c_str(), nullptr, 10); };
         if (c.flags->IsSet("memory")) { ASSIGN_OR_RETURN(int64_t v, ParseBytes(c.flags->GetString("memory"))); r.memory_limit = v; }
         if (c.flags->IsSet("memory-swap")) { ASSIGN_OR_RETURN(int64_t v, ParseBytes(c.flags->GetString("memory-swap"))); r.memory_swap = v; }
         if (c.flags->IsSet("memory-reservation")) { ASSIGN_OR_RETURN(int64_t v, ParseBytes(c.flags->GetString("memory-reservation"))); r.memory_reservation = v; }
         if (c.flags->IsSet("cpu-shares")) r.cpu_shares = num("cpu-shares");
         if (c.flags->IsSet("cpu-quota")) r.cpu_quota = num("cpu-quota");
         if (c.flags->IsSet("cpu-period")) r.cpu_period = num("cpu-period");
         if (c.flags->IsSet("cpuset-cpus")) r.cpuset_cpus = c.flags->GetString("cpuset-cpus");
         if (c.flags->IsSet("cpuset-mems")) r.cpuset_mems = c.flags->GetString("cpuset-mems");
         if (c.flags->IsSet("pids-limit")) r.pids_limit = num("pids-limit");
         if (c.flags->IsSet("blkio-weight")) r.blkio_weight = static_cast<uint16_t>(num("blkio-weight"));
         RETURN_IF_ERROR(UpdateContainer(c.store, c.pos[0], r));
         return 0;
       }}},
      {"features", {[](FlagSet&) {}, [](Ctx&) -> Result<int> {
         Print(FeaturesJson() + "\n");
         return 0;
       }}},
      {"spec", {[](FlagSet& f) { f.String("bundle", "", {"b"}); f.Bool("rootless"); },
                [](Ctx& c) -> Result<int> {
         std::string dir = c.flags->GetString("bundle");
         std::string path = (dir.empty() ? std::string(".") : dir) + "/config.json";
         if (::access(path.c_str(), F_OK) == 0)
           return Status::AlreadyExists("File " + path + " exists. Remove it first");
         RETURN_IF_ERROR(WriteFileAtomic(path, DefaultSpecJson()));
         return 0;
       }}},
  };
  return m;
}

const char kUsage[] =
    "usage: runc-lite [--root DIR] [--log FILE] [--log-format text|json] [--debug] COMMAND\n"
    "commands: create start run exec kill delete state ps list pause resume update features spec\n";

}  // namespace

int RunCommandLine(const std::vector<std::string>& args) {
  FlagSet global;
  global.String("root", "/run/runc-lite");
  global.String("log");
  global.String("log-format", "text");
  global.Bool("debug");
  global.Bool("systemd-cgroup");
  global.String("rootless", "auto");
  global.String("criu");
  global.Bool("version", {"v"});
  global.Bool("help", {"h"});
  Result<std::vector<std::string>> rest = global.Parse(args, 1);
  if (!rest.ok()) {
    LogError(rest.status().message());
    return 1;
  }
  Status log = ConfigureLog(global.GetString("log"), global.GetString("log-format"),
                            global.GetBool("debug"));
  if (!log.ok()) {
    LogError(log.message());
    return 1;
  }
  if (global.GetBool("version")) {
    Print("runc-lite version 0.1.0\nspec: 1.2.0\n");
    return 0;
  }
  if (rest->empty() || global.GetBool("help")) {
    Print(kUsage);
    return rest->empty() && !global.GetBool("help") ? 1 : 0;
  }
  if (global.GetBool("systemd-cgroup")) {
    LogError("--systemd-cgroup is not supported: runc-lite drives cgroupfs directly; "
             "configure the cgroupfs driver (SystemdCgroup = false, --cgroup-manager cgroupfs)");
    return 1;
  }
  const std::string& name = (*rest)[0];
  auto it = Commands().find(name);
  if (it == Commands().end()) {
    LogError("No help topic for '" + name + "'");
    return 1;
  }
  FlagSet flags;
  it->second.declare(flags);
  flags.Bool("help", {"h"});
  Result<std::vector<std::string>> pos = flags.Parse(*rest, 1);
  if (!pos.ok()) {
    LogError(pos.status().message());
    return 1;
  }
  Ctx ctx{StateStore(global.GetString("root")), std::move(*pos), &flags};
  Result<int> r = it->second.run(ctx);
  if (!r.ok()) {
    LogError(r.status().message());
    return 1;
  }
  return *r;
}

}  // namespace imgfs::runc
