#!/bin/bash
# A hook without "env" runs with the runtime's environment (runc passes its own); one with "env"
# (even an empty one) gets exactly that.
source "$(dirname "$0")/lib.sh"
bundle h true
cat > "$T/hook.sh" <<HOOK
#!/bin/sh
echo "\$1 marker=\${RUNC_LITE_HOOK_MARKER:-unset} own=\${OWN:-unset}" >> $T/hooks.log
HOOK
chmod +x "$T/hook.sh"
jset h --arg p "$T/hook.sh" '.hooks = {"createRuntime": [
  {"path": $p, "args": ["hook.sh", "noenv"]},
  {"path": $p, "args": ["hook.sh", "withenv"], "env": ["OWN=yes"]},
  {"path": $p, "args": ["hook.sh", "emptyenv"], "env": []}]}'
(cd "$T/h" && RUNC_LITE_HOOK_MARKER=from-runtime $R run h < /dev/null > /dev/null 2>&1)
check "no env: the runtime's environment" grep -qx "noenv marker=from-runtime own=unset" "$T/hooks.log"
check "env given: exactly it" grep -qx "withenv marker=unset own=yes" "$T/hooks.log"
check "env []: empty" grep -qx "emptyenv marker=unset own=unset" "$T/hooks.log"
finish
