#!/usr/bin/env bash
# The soak (issue 6, section 5): one gateway pair carries a mixed load for a
# set time while both gateways' memory (VmRSS) and open descriptors are
# sampled; both must stay flat. Then the Soak section of bench/RESULTS.md is
# written (between its markers; the other sections are left alone).
#
# The mix, all running for the whole time through one tunnel:
#   - bulk: iperf3 runs of BULK_SECONDS with 2 streams, capped at BULK_RATE
#     each, alternating upload and download (-R);
#   - request/response: netbench.py pingpong, 64-byte exchanges every few
#     ms, 1,000 per connection, PINGPONG parallel loops;
#   - short-lived: netbench.py rtt, connect, one byte echoed, close, 200 per
#     run, SHORT parallel loops.
# Every failed run is counted (a run that fails is a flow the gateways
# broke, or a tool killed at the end of the run).
#
# Usage: bench/soak/run_soak.sh
# Environment: DURATION (seconds, default 1800), INTERVAL (seconds between
# samples, default 10), BUILD (default build-gwbench), SKIP_BUILD=1 (use the
# binaries already in BUILD), LANES (default 2), BULK_RATE (iperf3 -b per
# stream, default 200M), BULK_SECONDS (default 60), PINGPONG (default 2),
# SHORT (default 2), NO_WRITE=1 (print the section instead of writing
# bench/RESULTS.md), OUTDIR (raw outputs, default $BUILD/soak).
# Loopback only, free ports only; every process it starts is stopped on
# exit. Exit status 1 if memory or descriptors did not stay flat.
set -euo pipefail

cd "$(dirname "$0")/../.."
root=$PWD
build=${BUILD:-build-gwbench}
duration=${DURATION:-1800}
interval=${INTERVAL:-10}
lanes=${LANES:-2}
bulk_rate=${BULK_RATE:-200M}
bulk_seconds=${BULK_SECONDS:-60}
npingpong=${PINGPONG:-2}
nshort=${SHORT:-2}
nb=$root/bench/gateway/netbench.py
soak=$root/bench/soak/soak.py

for tool in iperf3 python3; do
  command -v "$tool" >/dev/null || { echo "run_soak: $tool is missing (scripts/bootstrap)" >&2; exit 1; }
done
if [ -z "${SKIP_BUILD:-}" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DBRAID_BUILD_TESTS=OFF -DBRAID_BUILD_BENCH=OFF >/dev/null
  cmake --build "$build" -j1 --target braid-proxy braidctl
fi
case $build in /*) bdir=$build ;; *) bdir=$root/$build ;; esac
proxy=$bdir/proxy/braid-proxy
ctl=$bdir/braidctl/braidctl
out=${OUTDIR:-$bdir/soak}
rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d /tmp/braid-soak.XXXXXX)

pids=()
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
wait_for() {  # FILE PATTERN SECONDS PID
  local deadline=$((SECONDS + $3))
  until grep -q -- "$2" "$1" 2>/dev/null; do
    if ((SECONDS >= deadline)) || ! kill -0 "$4" 2>/dev/null; then
      log "gave up waiting for '$2' in $1"; tail -5 "$1" >&2 || true; return 1
    fi
    sleep 0.05
  done
}
port_in() { grep -o "$2 on 127.0.0.1:[0-9]*" "$1" | head -1 | cut -d: -f2; }

{
  echo "nproc=$(nproc)"
  echo "cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "kernel=$(uname -r)"
  echo "date=$(date -Iseconds)"
  echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "tree=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "build=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$bdir/CMakeCache.txt" 2>/dev/null || echo unknown)"
  echo "duration=$duration"
  echo "interval=$interval"
  echo "lanes=$lanes"
} >"$out/machine.txt"
cat >"$out/mix.txt" <<MIX
- bulk: iperf3, ${bulk_seconds} s runs, 2 streams capped at ${bulk_rate}bit/s each, upload and download in turn;
- request/response: ${npingpong} connections at a time, each 1,000 exchanges of 64 bytes about 5 ms apart (\`netbench.py pingpong\`);
- short-lived: ${nshort} loops of 200 connections each, one byte echoed per connection (\`netbench.py rtt\`).
MIX

# --- PKI, policy, servers, gateways ------------------------------------------
cd "$work"
"$ctl" pki init pki >/dev/null
"$ctl" pki issue pki gw-a >/dev/null
"$ctl" pki issue pki gw-b >/dev/null
cat >policy.json <<'JSON'
{"name": "soak", "default": "deny",
 "rules": [{"id": "soak", "action": "permit", "proto": "tcp",
            "src": ["127.0.0.0/8"], "dst": ["127.0.0.1"],
            "src_gateway": ["gw-a"], "dst_gateway": ["gw-b"]}]}
JSON
read -r p_iperf p_echo <<<"$(python3 "$nb" free-ports 2)"
iperf3 -s -B 127.0.0.1 -p "$p_iperf" >iperf3-server.log 2>&1 & pids+=($!)
python3 "$nb" echo "$p_echo" >echo.log 2>&1 & pids+=($!)

common='"limits": {"max_flows": 100000, "max_flows_per_source": 100000}, "admin": {"listen": "127.0.0.1:0"}'
cat >gw-b.json <<JSON
{"name": "gw-b",
 "identity": {"cert": "pki/gw-b.crt", "key": "pki/gw-b.key", "ca": "pki/ca.crt"},
 "tunnel": {"listen": "127.0.0.1:0", "lanes": $lanes},
 "policy": {"file": "policy.json"}, $common}
JSON
"$proxy" --config gw-b.json >gw-b.log 2>&1 & pids+=($!)
b_pid=$!
wait_for gw-b.log "admin endpoint on" 30 "$b_pid"
cat >gw-a.json <<JSON
{"name": "gw-a",
 "identity": {"cert": "pki/gw-a.crt", "key": "pki/gw-a.key", "ca": "pki/ca.crt"},
 "tunnel": {"listen": "127.0.0.1:0", "lanes": $lanes},
 "peers": [{"name": "gw-b", "address": "127.0.0.1:$(port_in gw-b.log 'tunnel listener')"}],
 "services": [
   {"name": "iperf", "listen": "127.0.0.1:0", "peer": "gw-b", "target": "127.0.0.1:$p_iperf"},
   {"name": "echo", "listen": "127.0.0.1:0", "peer": "gw-b", "target": "127.0.0.1:$p_echo"}],
 "policy": {"file": "policy.json"}, $common}
JSON
"$proxy" --config gw-a.json >gw-a.log 2>&1 & pids+=($!)
a_pid=$!
wait_for gw-a.log "admin endpoint on" 30 "$a_pid"
wait_for gw-a.log "service echo on" 30 "$a_pid"
svc_iperf=$(port_in gw-a.log "service iperf")
svc_echo=$(port_in gw-a.log "service echo")
specs=("gw-a:$a_pid:$(port_in gw-a.log 'admin endpoint')" "gw-b:$b_pid:$(port_in gw-b.log 'admin endpoint')")

# The tunnel up, nothing live: the idle reference.
python3 "$nb" rtt 127.0.0.1 "$svc_echo" 3 >/dev/null
sleep 2
touch idle-now
python3 "$soak" sample "$out/idle.tsv" 1 idle-now "${specs[@]}"

# --- The mix ----------------------------------------------------------------------
end=$((SECONDS + duration))
# loop NAME UNIT COMMAND...: runs COMMAND until the end, counting runs and
# failures into NAME.count.
loop() {
  local name=$1 unit=$2 runs=0 failed=0
  shift 2
  while ((SECONDS < end)); do
    if "$@" >/dev/null 2>>"$name.err"; then runs=$((runs + 1)); else failed=$((failed + 1)); fi
  done
  printf '%s\t%s\t%s\t%s\n' "$name" "$runs" "$failed" "$unit" >"$name.count"
}
# bulk: one iperf3 run, upload and download in turn (`loop`'s counts,
# visible here, say which turn it is); a run may not outlast the end.
bulk() {
  local t=$((end - SECONDS < bulk_seconds ? end - SECONDS : bulk_seconds)) reverse=""
  ((t > 0)) || return 0
  (((runs + failed) % 2 == 1)) && reverse=-R
  timeout $((t + 30)) iperf3 -c 127.0.0.1 -p "$svc_iperf" -t "$t" -P 2 -b "$bulk_rate" $reverse
}
log "soak: $((duration / 60)) min of mixed flows, sampling every ${interval}s into $out"
loop bulk "iperf3 runs of ${bulk_seconds} s (2 streams)" bulk & pids+=($!)
workers=($!)
for ((i = 0; i < npingpong; i++)); do
  loop "pingpong$i" "1,000 exchanges on one connection" python3 "$nb" pingpong 127.0.0.1 "$svc_echo" 1000 & pids+=($!)
  workers+=($!)
done
for ((i = 0; i < nshort; i++)); do
  loop "short$i" "200 connections" python3 "$nb" rtt 127.0.0.1 "$svc_echo" 200 & pids+=($!)
  workers+=($!)
done
python3 "$soak" sample "$out/samples.tsv" "$interval" mix-done "${specs[@]}" & pids+=($!)
sampler=$!
for w in "${workers[@]}"; do wait "$w" || true; done
touch mix-done
wait "$sampler" || true
for pid in "$a_pid" "$b_pid"; do
  kill -0 "$pid" 2>/dev/null || { log "a gateway (pid $pid) died during the soak"; exit 1; }
done

# Every flow of the mix ended: the idle state again.
deadline=$((SECONDS + 60))
until [ "$(python3 "$soak" live "${specs[@]}")" = 0 ] || ((SECONDS >= deadline)); do
  sleep 1
done
sleep 2
touch idle-end
python3 "$soak" sample "$out/idle.tsv.end" 1 idle-end "${specs[@]}"
tail -n +2 "$out/idle.tsv.end" >>"$out/idle.tsv"
rm "$out/idle.tsv.end"

{
  printf 'load\truns\tfailed\tunit\n'
  cat ./*.count
} >"$out/counts.tsv"
cat ./*.err >"$out/errors.txt" 2>/dev/null || true
echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"
cp gw-a.log gw-b.log "$out/"

cd "$root"
if [ -z "${NO_WRITE:-}" ]; then
  python3 "$soak" render "$out" bench/RESULTS.md && rc=0 || rc=$?
  log "wrote the Soak section of bench/RESULTS.md (raw outputs in $out)"
else
  python3 "$soak" render "$out" - && rc=0 || rc=$?
fi
exit $rc
