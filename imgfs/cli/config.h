// imgfs's configuration: one TOML file (toml++), environment variables and flags, in rising
// precedence over built-in defaults. The file is --config FILE, else $IMGFS_CONFIG, else
// /etc/imgfs/config.toml when it exists (an explicit file must exist). Every value is checked
// when it is loaded (sizes, enums, ranges), so a typo is one line naming the file, the key and
// the line, before any command runs. `imgfs config show` prints each value and its source.
//
//   store = "/var/lib/imgfs"        # $IMGFS_STORE              --store
//   cache_size = "0"                # $IMGFS_CACHE_SIZE         --cache-size (0: no limit)
//   remote = ""                     # $IMGFS_REMOTE             --remote (mount)
//   ca_file = ""                    # $IMGFS_CA_FILE            --ca-file
//   credentials_file = ""           # $REGISTRY_AUTH_FILE       registry credentials (auth.json)
//   remote_timeout = 30             # $IMGFS_REMOTE_TIMEOUT     daemon --remote-timeout: seconds
//                                   #                           a read waits on the remote
//                                   (1..3600)
//   [trace]  mode = "off"           # $IMGFS_TRACE              --trace
//            seconds = 30           # $IMGFS_TRACE_SECONDS      --trace-seconds
//   [log]    level = "info"         # $IMGFS_LOG_LEVEL          --log-level
//            format = "text"        # $IMGFS_LOG_FORMAT         --log-format
//            file = ""              # $IMGFS_LOG_FILE           the daemon's log (default:
//            STORE/daemon.log
//                                   #                           when started by mount, else stderr)
//            max_size = "16M"       # $IMGFS_LOG_MAX_SIZE       rotate the log file past this
//   [metrics] address = ""          # $IMGFS_METRICS_ADDRESS    --metrics-address: the daemon's
//                                   #                           Prometheus endpoint, HOST:PORT
//
// Thread-compatible: loaded once by main before the command runs, then only read.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace imgfs::cli {

struct Args;

struct Setting {
  std::string key;     // "store", "log.level", ...
  std::string value;   // as text; sizes and numbers checked
  std::string source;  // "default", "FILE:LINE", "$ENV" or "--flag"
};

class Config {
 public:
  // Defaults, then the file (see above; EXPLICIT_PATH empty: $IMGFS_CONFIG, else the default
  // path if present), then the environment.
  static Result<Config> Load(const std::string& explicit_path);
  // Loads TEXT as if it were the file PATH, with ENV as the environment (for tests).
  static Result<Config> LoadText(const std::string& text, const std::string& path,
                                 const std::vector<std::string>& env);

  // The effective value of KEY (which must be one of the known keys).
  const std::string& Get(const std::string& key) const;
  // --FLAG's value when the command got it, else KEY's.
  std::string FlagOr(const Args& args, const std::string& flag, const std::string& key) const;
  const std::vector<Setting>& settings() const { return settings_; }
  // The file that was read ("" when none).
  const std::string& file() const { return file_; }
  // Whether the file was named by --config or $IMGFS_CONFIG (a spawned daemon gets it too).
  bool explicit_file() const { return explicit_file_; }

 private:
  Status Set(const std::string& key, const std::string& value, const std::string& source);

  std::vector<Setting> settings_;
  std::string file_;
  bool explicit_file_ = false;
};

inline constexpr char kDefaultConfigPath[] = "/etc/imgfs/config.toml";

// The process's configuration (defaults until main installs the loaded one).
const Config& GlobalConfig();
void SetGlobalConfig(Config config);

}  // namespace imgfs::cli
