#!/usr/bin/env bash
# The fleet bench (issue 16): GATEWAYS simulated gateways (braid-fleet-sim)
# spread over CONTROLLERS braid-controllers that share their state on a
# local etcd (scripts/etcd-local, MEMBERS members), all on loopback. Two
# pushes, each timed from the apply until every simulated gateway has
# reported the new version: one with every controller up, one with the
# second controller killed (SIGKILL) 50 ms after the apply. Prints each
# run's "result {JSON}" line (p50, p99 and max in ms, gateways that never
# got there or went backwards) and the controllers' CPU seconds and peak
# memory (VmHWM) over each push. It writes nothing: the figures go to
# bench/RESULTS.md by hand.
#
# Usage: bench/controller/run_fleet_bench.sh
# Environment: GATEWAYS (default 1000), CONTROLLERS (default 3), MEMBERS (1
# or 3, default 1), BUILD (default build; its braid-controller, braidctl and
# braid-fleet-sim are used as they are: build them first).
# Everything it starts is stopped, and its files removed, on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bdir=$root/${BUILD:-build}
gateways=${GATEWAYS:-1000}
controllers=${CONTROLLERS:-3}
members=${MEMBERS:-1}
for bin in controller/braid-controller braidctl/braidctl bench/controller/braid-fleet-sim; do
  [ -x "$bdir/$bin" ] || { echo "run_fleet_bench: $bdir/$bin is missing: build it first" >&2; exit 1; }
done
work=$(mktemp -d /tmp/braid-fleet.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  "$root/scripts/etcd-local" stop "$work/etcd" || true
  rm -rf "$work"
}
trap cleanup EXIT

ctl=$bdir/braidctl/braidctl
"$ctl" pki init "$work/pki" >/dev/null
"$ctl" pki issue "$work/pki" controller >/dev/null
"$ctl" pki issue "$work/pki" admin >/dev/null
etcd_port=23379
"$root/scripts/etcd-local" start "$work/etcd" --members "$members" --port "$etcd_port" >/dev/null
endpoints=""
for ((m = 0; m < members; m++)); do endpoints+="${endpoints:+,}\"127.0.0.1:$((etcd_port + 2 * m))\""; done

addresses=""
for ((c = 0; c < controllers; c++)); do
  port=$((17443 + c))
  cat >"$work/ctl$c.json" <<JSON
{"listen": "127.0.0.1:$port",
 "identity": {"cert": "pki/controller.crt", "key": "pki/controller.key"},
 "ca": {"cert": "pki/ca.crt", "key": "pki/ca.key"},
 "etcd": {"endpoints": [$endpoints]},
 "admins": ["admin"], "gateway_poll": "60s", "log": {"level": "warn"}}
JSON
  "$bdir/controller/braid-controller" --config "$work/ctl$c.json" >"$work/ctl$c.log" 2>&1 &
  pids+=($!)
  disown  # the kill during the second push is expected: no job notice
  addresses+="${addresses:+,}127.0.0.1:$port"
done
for ((c = 0; c < controllers; c++)); do
  for ((t = 0; t < 100; t++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$((17443 + c))") 2>/dev/null && break
    sleep 0.1
  done
done

policy() {  # policy FILE PORT: permit TCP to one port, deny the rest
  printf '{"name": "fleet", "default": "deny", "rules": [{"id": "p%s", "action": "permit", "proto": "tcp", "dst_ports": [%s]}]}\n' "$2" "$2" >"$1"
}
admin=(--controller "$addresses" --cert "$work/pki/admin.crt" --key "$work/pki/admin.key" --ca "$work/pki/ca.crt")
policy "$work/p1.json" 5432
"$ctl" policy apply "$work/p1.json" "${admin[@]}" >/dev/null

usage() {  # usage PID...: "cpu_seconds vmhwm_kib" summed over those processes
  local cpu=0 hwm=0 tck
  tck=$(getconf CLK_TCK)
  for pid in "$@"; do
    [ -r "/proc/$pid/stat" ] || continue
    read -r -a f <"/proc/$pid/stat"
    cpu=$((cpu + f[13] + f[14]))
    hwm=$((hwm + $(awk '/VmHWM/ {print $2}' "/proc/$pid/status")))
  done
  echo "$(awk -v c="$cpu" -v t="$tck" 'BEGIN {printf "%.2f", c / t}') $hwm"
}

sim=("$bdir/bench/controller/braid-fleet-sim" --controllers "$addresses" --ca-cert "$work/pki/ca.crt"
  --ca-key "$work/pki/ca.key" --admin-cert "$work/pki/admin.crt" --admin-key "$work/pki/admin.key"
  --scratch "$work/gateways" --gateways "$gateways")
run=1
for kill in no yes; do
  policy "$work/p$((run + 1)).json" $((5432 + run))
  extra=()
  watched=("${pids[@]}")
  if [ "$kill" = yes ]; then
    extra=(--kill-pid "${pids[1]}" --kill-after-ms 50)
    watched=("${pids[0]}" "${pids[@]:2}")  # the survivors
  fi
  read -r cpu0 _ < <(usage "${watched[@]}")
  "${sim[@]}" --policy "$work/p$((run + 1)).json" "${extra[@]}" | grep '^result ' || echo "run $run: no result" >&2
  read -r cpu1 hwm < <(usage "${watched[@]}")
  echo "controllers: $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN {printf "%.2f", b - a}') CPU seconds over the run" \
    "(${#watched[@]} measured), VmHWM $((hwm / 1024)) MiB in all (killed: $kill)"
  run=$((run + 1))
done
