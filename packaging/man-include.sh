#!/bin/sh
# Writes a help2man include file with a COMMANDS section: each `imgfs COMMAND --help`.
#   packaging/man-include.sh PATH/TO/imgfs > imgfs.h2m
set -eu
bin=$1
echo "[COMMANDS]"
for cmd in $("$bin" --help | awk '/^  [a-z]/ {print $1}' | sort -u); do
  echo ".SS $cmd"
  echo ".nf"
  "$bin" "$cmd" --help | sed 's/\\/\\\\/g; s/^\./\\\&./'
  echo ".fi"
done
cat <<'TXT'
[FILES]
.TP
/etc/imgfs/config.toml
The configuration (see \fBimgfs config show\fR and /usr/share/doc/imgfs/operations.md).
.TP
/var/lib/imgfs
The default store; its daemon's control socket is STORE/imgfs.sock.
TXT
