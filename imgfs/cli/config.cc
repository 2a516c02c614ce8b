#include "imgfs/cli/config.h"

#include <toml++/toml.h>
#include <unistd.h>

#include <cstdlib>

#include "core/fd.h"
#include "core/log.h"
#include "core/numbers.h"
#include "imgfs/cli/args.h"
#include "imgfs/daemon/daemon.h"
#include "imgfs/daemon/mount_manager.h"

namespace imgfs::cli {
namespace {

enum class Kind {
  kPath,
  kText,
  kSize,
  kTraceMode,
  kTraceSeconds,
  kRemoteTimeout,
  kLogLevel,
  kLogFormat,
  kRestarts
};

struct Key {
  const char* name;
  const char* fallback;
  const char* env;
  Kind kind;
};

constexpr Key kKeys[] = {
    {"store", "/var/lib/imgfs", "IMGFS_STORE", Kind::kPath},
    {"cache_size", "0", "IMGFS_CACHE_SIZE", Kind::kSize},
    {"memory_cache", "256M", "IMGFS_MEMORY_CACHE", Kind::kSize},
    {"remote", "", "IMGFS_REMOTE", Kind::kText},
    {"ca_file", "", "IMGFS_CA_FILE", Kind::kPath},
    {"credentials_file", "", "REGISTRY_AUTH_FILE", Kind::kPath},
    {"remote_timeout", "30", "IMGFS_REMOTE_TIMEOUT", Kind::kRemoteTimeout},
    {"trace.mode", "off", "IMGFS_TRACE", Kind::kTraceMode},
    {"trace.seconds", "30", "IMGFS_TRACE_SECONDS", Kind::kTraceSeconds},
    {"log.level", "info", "IMGFS_LOG_LEVEL", Kind::kLogLevel},
    {"log.format", "text", "IMGFS_LOG_FORMAT", Kind::kLogFormat},
    {"log.file", "", "IMGFS_LOG_FILE", Kind::kPath},
    {"log.max_size", "16M", "IMGFS_LOG_MAX_SIZE", Kind::kSize},
    {"metrics.address", "", "IMGFS_METRICS_ADDRESS", Kind::kText},
    {"daemon.max_restarts", "5", "IMGFS_DAEMON_MAX_RESTARTS", Kind::kRestarts},
    {"snapshotter.registries", "", "IMGFS_SNAPSHOTTER_REGISTRIES", Kind::kText},
};

const Key* FindKey(const std::string& name) {
  for (const Key& k : kKeys)
    if (name == k.name) return &k;
  return nullptr;
}

Status Check(const Key& key, const std::string& value) {
  switch (key.kind) {
    case Kind::kPath:
      if (!value.empty() && value[0] != '/') return Status::InvalidArgument("not an absolute path");
      if (key.name == std::string("store") && value.empty())
        return Status::InvalidArgument("empty");
      return Status::Ok();
    case Kind::kText:
      return Status::Ok();
    case Kind::kSize:
      return ParseSize(value, key.name, daemon::kMaxCacheSize).status();
    case Kind::kTraceMode:
      if (value == "off" || value == "record" || value == "replay") return Status::Ok();
      return Status::InvalidArgument("'" + value + "': want off, record or replay");
    case Kind::kTraceSeconds:
      return ParseUint64(value, 1, daemon::MountRequest::kMaxTraceSeconds, key.name).status();
    case Kind::kRemoteTimeout:
      return ParseUint64(value, 1, daemon::kMaxRemoteTimeoutSeconds, key.name).status();
    case Kind::kLogLevel:
      return ParseLogLevel(value).status();
    case Kind::kLogFormat:
      return ParseLogFormat(value).status();
    case Kind::kRestarts:
      return ParseUint64(value, 0, daemon::kMaxDaemonRestarts, key.name).status();
  }
  return Status::Ok();
}

// A TOML value as our text: strings as they are, integers in decimal, booleans as true/false.
Result<std::string> ValueText(const toml::node& node) {
  if (auto s = node.value<std::string>()) {
    if (node.is_string()) return *s;
  }
  if (node.is_integer()) return std::to_string(*node.value<int64_t>());
  if (node.is_boolean()) return std::string(*node.value<bool>() ? "true" : "false");
  return Status::InvalidArgument("want a string or a number");
}

}  // namespace

Status Config::Set(const std::string& key, const std::string& value, const std::string& source) {
  const Key* k = FindKey(key);
  if (!k) return Status::InvalidArgument(source + ": unknown key '" + key + "'");
  Status s = Check(*k, value);
  if (!s.ok()) return Status::InvalidArgument(source + ": " + key + ": " + s.message());
  for (Setting& setting : settings_) {
    if (setting.key == key) {
      setting.value = value;
      setting.source = source;
      return Status::Ok();
    }
  }
  settings_.push_back({key, value, source});
  return Status::Ok();
}

Result<Config> Config::LoadText(const std::string& text, const std::string& path,
                                const std::vector<std::string>& env) {
  Config c;
  for (const Key& k : kKeys) c.settings_.push_back({k.name, k.fallback, "default"});
  if (!path.empty()) {
    c.file_ = path;
    toml::table root;
    try {
      root = toml::parse(text, path);
    } catch (const toml::parse_error& e) {
      return Status::InvalidArgument("config " + path + ":" +
                                     std::to_string(e.source().begin.line) + ": " +
                                     std::string(e.description()));
    }
    for (const auto& [name, node] : root) {
      std::string prefix(name.str());
      auto visit = [&](const std::string& key, const toml::node& value) -> Status {
        std::string where = path + ":" + std::to_string(value.source().begin.line);
        Result<std::string> v = ValueText(value);
        if (!v.ok())
          return Status::InvalidArgument(where + ": " + key + ": " + v.status().message());
        return c.Set(key, *v, where);
      };
      if (const toml::table* section = node.as_table()) {
        for (const auto& [inner, value] : *section)
          RETURN_IF_ERROR(visit(prefix + "." + std::string(inner.str()), value));
      } else {
        RETURN_IF_ERROR(visit(prefix, node));
      }
    }
  }
  for (const std::string& entry : env) {
    size_t eq = entry.find('=');
    if (eq == std::string::npos) continue;
    std::string name = entry.substr(0, eq), value = entry.substr(eq + 1);
    for (const Key& k : kKeys)
      if (name == k.env && !value.empty()) RETURN_IF_ERROR(c.Set(k.name, value, "$" + name));
  }
  return c;
}

Result<Config> Config::Load(const std::string& explicit_path) {
  std::string path = explicit_path;
  bool is_explicit = !path.empty();
  if (path.empty()) {
    const char* env = std::getenv("IMGFS_CONFIG");
    if (env && *env) path = env, is_explicit = true;
  }
  if (path.empty() && ::access(kDefaultConfigPath, F_OK) == 0) path = kDefaultConfigPath;
  std::string text;
  if (!path.empty()) {
    ASSIGN_OR_RETURN(text, ReadFileToString(path, size_t{1} << 20));
  }
  std::vector<std::string> env;
  for (const Key& k : kKeys)
    if (const char* v = std::getenv(k.env)) env.push_back(std::string(k.env) + "=" + v);
  ASSIGN_OR_RETURN(Config c, LoadText(text, path, env));
  c.explicit_file_ = is_explicit;
  return c;
}

const std::string& Config::Get(const std::string& key) const {
  for (const Setting& s : settings_)
    if (s.key == key) return s.value;
  static const std::string kEmpty;
  return kEmpty;  // unreachable for the known keys: every one has a default
}

std::string Config::FlagOr(const Args& args, const std::string& flag,
                           const std::string& key) const {
  return args.Has(flag) ? args.Get(flag) : Get(key);
}

namespace {
Config& MutableGlobal() {
  static Config* c = [] {
    auto loaded = Config::LoadText("", "", {});
    return new Config(std::move(*loaded));
  }();
  return *c;
}
}  // namespace

const Config& GlobalConfig() { return MutableGlobal(); }
void SetGlobalConfig(Config config) { MutableGlobal() = std::move(config); }

}  // namespace imgfs::cli
