#include "imgfs/cli/run_config.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmath>
#include <sstream>

#include "core/fd.h"
#include "core/numbers.h"

namespace imgfs::cli {
namespace {

using nlohmann::json;

// Opens REL beneath ROOTFS as if ROOTFS were "/": the image is attacker-written, and a symlink
// /etc/passwd -> /etc/shadow must not read the host's.
Result<UniqueFd> OpenInImage(const std::string& rootfs, const std::string& rel, int flags) {
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return Status::FromErrno(errno, "open " + rootfs);
  std::string path = rel;
  while (!path.empty() && path[0] == '/') path.erase(0, 1);
  if (path.empty()) path = ".";
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  long fd = ::syscall(SYS_openat2, root.get(), path.c_str(), &how, sizeof how);
  if (fd < 0) return Status::FromErrno(errno, rel + " in the image");
  return UniqueFd(static_cast<int>(fd));
}

Result<std::string> ReadInImage(const std::string& rootfs, const std::string& rel) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenInImage(rootfs, rel, O_RDONLY));
  std::string out;
  char buf[65536];
  for (ssize_t n; (n = RetryOnEintr([&] { return ::read(fd.get(), buf, sizeof buf); })) != 0;) {
    if (n < 0) return Status::FromErrno(errno, "read " + rel + " in the image");
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (16u << 20)) return Status::InvalidArgument(rel + " in the image is too big");
  }
  return out;
}

// The colon-separated fields of the first /etc/passwd or /etc/group line whose field COLUMN is
// VALUE (0: the name, 2: the id); empty when none.
std::vector<std::string> FindEntry(const std::string& file, size_t column,
                                   const std::string& value) {
  std::istringstream lines(file);
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> fields;
    std::istringstream f(line);
    for (std::string field; std::getline(f, field, ':');) fields.push_back(field);
    if (fields.size() >= 3 && fields[column] == value) return fields;
  }
  return {};
}

bool IsNumber(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// -u / the image's User: UID[:GID] or NAME[:GROUP], names from the image's /etc/passwd and
// /etc/group; sets process.user and, from passwd, HOME when the env has none.
Status ApplyUser(const std::string& spec, const std::string& rootfs, json* process) {
  std::string user = spec, group;
  if (size_t colon = spec.find(':'); colon != std::string::npos) {
    user = spec.substr(0, colon);
    group = spec.substr(colon + 1);
  }
  if (user.empty()) return Status::InvalidArgument("user '" + spec + "': no user");
  uint32_t uid = 0, gid = 0;
  std::string home;
  Result<std::string> passwd = ReadInImage(rootfs, "/etc/passwd");
  // By name, or for a number the entry of that uid (for its group and home).
  std::vector<std::string> entry =
      passwd.ok() ? FindEntry(*passwd, IsNumber(user) ? 2 : 0, user) : std::vector<std::string>{};
  if (IsNumber(user)) {
    ASSIGN_OR_RETURN(uint64_t u, ParseUint64(user, 0, UINT32_MAX - 1, "user"));
    uid = static_cast<uint32_t>(u);
  } else {
    if (entry.size() < 4)
      return Status::NotFound("user '" + user + "' is not in the image's /etc/passwd");
    ASSIGN_OR_RETURN(uint64_t u, ParseUint64(entry[2], 0, UINT32_MAX - 1, "uid of " + user));
    uid = static_cast<uint32_t>(u);
  }
  if (entry.size() >= 4 && IsNumber(entry[3])) {
    ASSIGN_OR_RETURN(uint64_t g, ParseUint64(entry[3], 0, UINT32_MAX - 1, "gid of " + user));
    gid = static_cast<uint32_t>(g);
  }
  if (entry.size() >= 6) home = entry[5];
  if (!group.empty()) {
    if (IsNumber(group)) {
      ASSIGN_OR_RETURN(uint64_t g, ParseUint64(group, 0, UINT32_MAX - 1, "group"));
      gid = static_cast<uint32_t>(g);
    } else {
      Result<std::string> groups = ReadInImage(rootfs, "/etc/group");
      std::vector<std::string> g =
          groups.ok() ? FindEntry(*groups, 0, group) : std::vector<std::string>{};
      if (g.size() < 3)
        return Status::NotFound("group '" + group + "' is not in the image's /etc/group");
      ASSIGN_OR_RETURN(uint64_t n, ParseUint64(g[2], 0, UINT32_MAX - 1, "gid of " + group));
      gid = static_cast<uint32_t>(n);
    }
  }
  (*process)["user"] = {{"uid", uid}, {"gid", gid}};
  if (!home.empty()) {
    bool has_home = false;
    for (const auto& e : (*process)["env"]) has_home |= e.get<std::string>().rfind("HOME=", 0) == 0;
    if (!has_home) (*process)["env"].push_back("HOME=" + home);
  }
  return Status::Ok();
}

// Sets K=V in ENV (replacing K).
void SetEnv(json* env, const std::string& kv) {
  std::string key = kv.substr(0, kv.find('='));
  for (auto& e : *env) {
    const std::string& s = e.get_ref<const std::string&>();
    if (s.substr(0, s.find('=')) == key) {
      e = kv;
      return;
    }
  }
  env->push_back(kv);
}

std::string EnvValue(const json& env, const std::string& key) {
  for (const auto& e : env) {
    const std::string& s = e.get_ref<const std::string&>();
    if (s.rfind(key + "=", 0) == 0) return s.substr(key.size() + 1);
  }
  return "";
}

// Whether ARGS[0] names an executable file of the image (through its PATH when it has no '/').
Status CheckProgram(const std::string& rootfs, const std::string& program, const json& env,
                    const std::string& cwd) {
  std::vector<std::string> candidates;
  if (program.find('/') != std::string::npos) {
    candidates.push_back(program[0] == '/' ? program : cwd + "/" + program);
  } else {
    std::istringstream dirs(EnvValue(env, "PATH"));
    for (std::string dir; std::getline(dirs, dir, ':');)
      if (!dir.empty()) candidates.push_back(dir + "/" + program);
  }
  for (const std::string& path : candidates) {
    Result<UniqueFd> fd = OpenInImage(rootfs, path, O_PATH);
    struct stat st;
    if (fd.ok() && ::fstat(fd->get(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111))
      return Status::Ok();
  }
  return Status::NotFound("executable '" + program + "' not found in the image" +
                          (program.find('/') == std::string::npos ? "'s PATH" : ""));
}

}  // namespace

Result<std::vector<std::string>> ParseEnvFile(const std::string& text,
                                              const std::vector<std::string>& host_env) {
  std::vector<std::string> out;
  std::istringstream lines(text);
  int number = 0;
  for (std::string line; std::getline(lines, line);) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    line = line.substr(start);
    size_t eq = line.find('=');
    std::string key = line.substr(0, eq);
    if (key.empty() || key.find_first_of(" \t") != std::string::npos)
      return Status::InvalidArgument("env file line " + std::to_string(number) + ": not KEY=VALUE");
    if (eq != std::string::npos) {
      out.push_back(line);
      continue;
    }
    for (const std::string& h : host_env)
      if (h.rfind(key + "=", 0) == 0) out.push_back(h);
  }
  return out;
}

Result<std::optional<unsigned>> ParseKeepWarm(const std::string& text) {
  if (text == "forever") return std::optional<unsigned>();
  std::string number = text;
  uint64_t unit = 1;
  if (!number.empty() && std::string("smh").find(number.back()) != std::string::npos) {
    unit = number.back() == 'h' ? 3600 : number.back() == 'm' ? 60 : 1;
    number.pop_back();
  }
  Result<uint64_t> n = ParseUint64(number, 0, 30 * 86400 / unit, "--keep-warm");
  if (!n.ok())
    return Status::InvalidArgument("--keep-warm " + text +
                                   ": want seconds, a number with s, m or h (at most 30 days), "
                                   "or forever");
  return std::optional<unsigned>(static_cast<unsigned>(*n * unit));
}

Result<std::string> GpuVisibleDevices(std::string value) {
  if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
      value.back() == value.front())
    value = value.substr(1, value.size() - 2);
  const bool devices = value.rfind("device=", 0) == 0;
  if (devices) value.erase(0, 7);
  auto bad = [&] {
    return Status::InvalidArgument("--gpus " + value +
                                   ": want all, a count, or device=LIST of indexes or UUIDs");
  };
  if (value.empty()) return bad();
  if (value == "all") return value;
  if (IsNumber(value) && !devices) {
    Result<uint64_t> count = ParseUint64(value, 1, 1024, "--gpus");
    if (!count.ok()) return bad();
    std::string list;
    for (uint64_t i = 0; i < *count; ++i) list += (i ? "," : "") + std::to_string(i);
    return list;
  }
  // A list: no spaces or characters a CDI name, index or UUID never has.
  if (value.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                              "-_.,=/:") != std::string::npos ||
      value.front() == ',' || value.back() == ',' || value.find(",,") != std::string::npos)
    return bad();
  return value;
}

Result<json> BuildRunConfig(json spec, const json& image_config, const RunOptions& options,
                            const std::string& rootfs, std::vector<std::string>* notes) {
  const json empty = json::object();
  const json& c = image_config.is_object() && image_config.contains("config") &&
                          image_config["config"].is_object()
                      ? image_config["config"]
                      : empty;
  auto strings = [&](const char* key) {
    std::vector<std::string> out;
    if (c.contains(key) && c[key].is_array())
      for (const auto& v : c[key])
        if (v.is_string()) out.push_back(v.get<std::string>());
    return out;
  };
  auto text = [&](const char* key) {
    return c.contains(key) && c[key].is_string() ? c[key].get<std::string>() : std::string();
  };

  json& process = spec["process"];
  std::vector<std::string> args = strings("Entrypoint");
  std::vector<std::string> cmd = options.command.empty() ? strings("Cmd") : options.command;
  args.insert(args.end(), cmd.begin(), cmd.end());
  if (args.empty())
    return Status::InvalidArgument(
        "the image has no command (Entrypoint or Cmd); give one after "
        "the image");
  process["args"] = args;

  json env = json::array();
  for (const std::string& e : strings("Env"))
    if (e.find('=') != std::string::npos) SetEnv(&env, e);
  if (EnvValue(env, "PATH").empty())
    SetEnv(&env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  for (const std::string& e : options.env) {
    if (e.empty() || e[0] == '=' || e.find('=') == std::string::npos)
      return Status::InvalidArgument("-e " + e + ": want KEY=VALUE");
    SetEnv(&env, e);
  }
  if (options.tty) SetEnv(&env, "TERM=xterm");
  if (!options.gpus.empty()) {  // gpu-hooks injects what this asks for (runc-lite or imgfs run)
    SetEnv(&env, "NVIDIA_VISIBLE_DEVICES=" + options.gpus);
    if (EnvValue(env, "NVIDIA_DRIVER_CAPABILITIES").empty())
      SetEnv(&env, "NVIDIA_DRIVER_CAPABILITIES=compute,utility");
  }
  process["env"] = env;
  process["terminal"] = options.tty;

  std::string cwd = options.workdir.empty() ? text("WorkingDir") : options.workdir;
  if (cwd.empty()) cwd = "/";
  if (cwd[0] != '/')
    return Status::InvalidArgument("working directory " + cwd + " is not absolute");
  process["cwd"] = cwd;

  std::string user = options.user.empty() ? text("User") : options.user;
  process["user"] = {{"uid", 0}, {"gid", 0}};
  if (!user.empty()) RETURN_IF_ERROR(ApplyUser(user, rootfs, &process));
  if (EnvValue(process["env"], "HOME").empty())
    process["env"].push_back(process["user"]["uid"] == 0 ? "HOME=/root" : "HOME=/");

  RETURN_IF_ERROR(CheckProgram(rootfs, args[0], process["env"], cwd));

  spec["root"] = {{"path", rootfs}, {"readonly", options.read_only}};
  if (!options.hostname.empty()) spec["hostname"] = options.hostname;

  json& linux = spec["linux"];
  if (options.net == "host") {
    json kept = json::array();
    for (const auto& ns : linux["namespaces"])
      if (ns.value("type", "") != "network") kept.push_back(ns);
    linux["namespaces"] = kept;
  } else if (options.net == "none") {
    bool has = false;
    for (const auto& ns : linux["namespaces"]) has |= ns.value("type", "") == "network";
    if (!has) linux["namespaces"].push_back({{"type", "network"}});
  } else {
    return Status::InvalidArgument("--net " + options.net + ": want host or none");
  }

  for (const std::string& v : options.volumes) {
    std::vector<std::string> parts;
    std::istringstream s(v);
    for (std::string p; std::getline(s, p, ':');) parts.push_back(p);
    if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty() ||
        parts[1][0] != '/' || (parts.size() == 3 && parts[2] != "ro" && parts[2] != "rw"))
      return Status::InvalidArgument("-v " + v + ": want SRC:DST[:ro|rw] with DST absolute");
    char real[PATH_MAX];
    if (!::realpath(parts[0].c_str(), real))
      return Status::FromErrno(errno, "-v source " + parts[0]);
    bool ro = parts.size() == 3 && parts[2] == "ro";
    spec["mounts"].push_back({{"destination", parts[1]},
                              {"type", "bind"},
                              {"source", real},
                              {"options", {"rbind", ro ? "ro" : "rw"}}});
  }

  json& resources = linux["resources"];
  if (options.memory) resources["memory"]["limit"] = *options.memory;
  if (options.cpus) {
    resources["cpu"]["period"] = 100000;
    resources["cpu"]["quota"] = static_cast<int64_t>(std::llround(*options.cpus * 100000));
  }
  if (options.pids_limit) resources["pids"]["limit"] = *options.pids_limit;

  if (c.contains("ExposedPorts") && c["ExposedPorts"].is_object() && !c["ExposedPorts"].empty()) {
    std::string ports;
    for (const auto& [port, _] : c["ExposedPorts"].items())
      ports += (ports.empty() ? "" : ", ") + port;
    notes->push_back("the image exposes " + ports + "; imgfs run publishes no ports" +
                     (options.net == "host" ? "" : " (use --net host to reach them)"));
  }
  for (const char* ignored : {"Volumes", "StopSignal", "Healthcheck", "OnBuild"})
    if (c.contains(ignored) && !c[ignored].is_null())
      notes->push_back(std::string("the image config's ") + ignored + " is ignored");
  return spec;
}

}  // namespace imgfs::cli
