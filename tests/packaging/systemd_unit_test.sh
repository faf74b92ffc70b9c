#!/usr/bin/env bash
# A unit of packaging/systemd/ (braid-proxy.service, braid-controller.service),
# checked with this machine's systemd:
#   - `systemd-analyze verify` accepts it without a warning (an unknown or
#     misspelt directive is only a warning, so the output must be empty);
#     the binary paths are pointed at the build's binary, since
#     /usr/bin/NAME exists only once the package is installed;
#   - its system call filter, @system-service, contains the io_uring calls
#     the event loops make, and neither group it takes away does.
# Exits 77 (skipped) where systemd-analyze is not installed. Needs no
# running systemd.
#
#   systemd_unit_test.sh BINARY SOURCE_DIR UNIT
set -euo pipefail
binary=$1 src=$2 unit_name=$3
name=${unit_name%.service}
unit=$src/packaging/systemd/$unit_name
command -v systemd-analyze >/dev/null || { echo "skipped: systemd-analyze not installed"; exit 77; }

work=$(mktemp -d "${TMPDIR:-/tmp}/braid-unit.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

grep -q "^ExecStart=/usr/bin/$name " "$unit" || fail "ExecStart does not run /usr/bin/$name"
sed "s#/usr/bin/$name#$binary#g" "$unit" >"$work/$unit_name"
out=$(systemd-analyze verify "$work/$unit_name" 2>&1) || fail "systemd-analyze verify: $out"
[[ -z $out ]] || fail "systemd-analyze verify warned: $out"
echo "ok: systemd-analyze verify"

# Every system call a group holds, nested groups expanded.
calls() {
  systemd-analyze syscall-filter "$1" | sed -e 's/^ *//' -e '/^#/d' -e '/^$/d' | tail -n +2 |
    while read -r call; do
      if [[ $call == @* ]]; then calls "$call"; else echo "$call"; fi
    done
}
allowed=$(calls @system-service)
removed=$(sed -n 's/^SystemCallFilter=~//p' "$unit" | tr ' ' '\n' | while read -r group; do calls "$group"; done)
for call in io_uring_setup io_uring_enter io_uring_register; do
  grep -qx "$call" <<<"$allowed" || fail "$call is not in @system-service"
  if grep -qx "$call" <<<"$removed"; then fail "$call is removed by SystemCallFilter=~"; fi
done
echo "ok: the unit's system call filter allows io_uring"
