// An example for each imgfs subcommand, printed after its usage by `imgfs COMMAND --help` (and
// in the man page, which is made from the help). Constants; thread-safe.
#pragma once

#include <string_view>

namespace imgfs::cli {

struct CommandExample {
  std::string_view command;
  std::string_view text;
};

inline constexpr CommandExample kExamples[] = {
    {"convert", "imgfs convert oci:/srv/layouts/python:3.11 --tag python"},
    {"inspect", "imgfs inspect python --json | jq .dedup"},
    {"export", "imgfs export python --tar /tmp/python.tar"},
    {"ls", "imgfs ls; imgfs ls --mounts --json"},
    {"rm", "imgfs rm python && imgfs gc"},
    {"gc", "imgfs gc --store /srv/imgfs"},
    {"verify", "imgfs verify --store /srv/imgfs || echo damaged"},
    {"push", "imgfs push python file:///srv/images"},
    {"repack", "imgfs repack python --tag python-repacked"},
    {"mount", "imgfs mount sha256:4f1c... /mnt/python --remote file:///srv/images --trace replay"},
    {"umount", "imgfs umount /mnt/python        # finds the mount's store and daemon itself"},
    {"stats", "imgfs stats /mnt/python --json"},
    {"daemon", "imgfs daemon --config /etc/imgfs/config.toml --log-format json"},
    {"config", "IMGFS_CACHE_SIZE=4G imgfs config show"},
    {"pull", "imgfs pull docker://127.0.0.1:5000/python:3.11 --plain-http"},
    {"run",
     "imgfs run --timings -e MODE=fast -v /srv/data:/data:ro python python3 -c 'import numpy'"},
    {"ps", "imgfs ps --json | jq -r '.[] | select(.status == \"running\") | .id'"},
    {"stop", "imgfs stop -t 5 web"},
    {"logs", "imgfs run -d --name web python python3 -m http.server && imgfs logs -f web"},
};

}  // namespace imgfs::cli
