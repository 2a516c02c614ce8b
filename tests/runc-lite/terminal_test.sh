#!/bin/bash
# process.terminal: stdin, stdout and stderr of the container are all the pty - through
# --console-socket (as containerd uses it), and in `run -t`/`exec -t` in the foreground without
# one, where runc-lite relays a pty of its own (as runc does): input reaches the program, output
# comes back, the exit code is the program's.
source "$(dirname "$0")/lib.sh"
ttys='[ -t 0 ] && echo in-tty; [ -t 1 ] && echo out-tty; [ -t 2 ] && echo err-tty; exit 7'
three() { grep -q in-tty "$1" && grep -q out-tty "$1" && grep -q err-tty "$1"; }

if [[ -x ${RUNC_LITE_HELPERS:-}/runc_lite_recvtty ]]; then
  bundle cs sh -c "$ttys"
  jset cs '.process.terminal=true'
  timeout 20 "$RUNC_LITE_HELPERS/runc_lite_recvtty" "$T/tty.sock" > "$T/cs.out" &
  rpid=$!
  for _ in $(seq 100); do [[ -S $T/tty.sock ]] && break; sleep 0.05; done
  $R create --bundle "$T/cs" --console-socket "$T/tty.sock" cs < /dev/null && $R start cs
  wait $rpid
  check "--console-socket: stdin, stdout and stderr are the pty" three "$T/cs.out"
  $R delete -f cs
else
  echo "SKIP console-socket part: runc_lite_recvtty not built"
fi

bundle fg sh -c "$ttys"
jset fg '.process.terminal=true'
(cd "$T/fg" && timeout 20 $R run fg < /dev/null > "$T/fg.out" 2>&1)
rc=$?
check "run -t without a console socket: three ttys ($(tr '\r\n' '  ' < "$T/fg.out"))" three "$T/fg.out"
check "  ... the program's exit code ($rc)" test $rc = 7

bundle ex sleep 100
(cd "$T/ex" && $R run -d ex < /dev/null > /dev/null 2>&1)
timeout 20 $R exec -t ex sh -c "$ttys" < /dev/null > "$T/ex.out" 2>&1
check "exec -t without a console socket: three ttys" three "$T/ex.out"
out=$(echo hello | timeout 20 $R exec -t ex sh -c 'read x; echo got=$x' 2>&1)
check "exec -t: stdin reaches the program through the pty ($out)" contains "$out" "got=hello"
$R delete -f ex
finish
