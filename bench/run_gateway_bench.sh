#!/usr/bin/env bash
# The gateway benchmark (issue 3, section 4), in one go on this machine:
#
#  1. iperf3 throughput, 1 flow and 8 flows, through: a direct loopback
#     connection; a two-hop plain relay (two socat processes chained); a
#     two-hop stunnel4 TLS 1.3 chain (mutual TLS, the same certificates and
#     cipher suite as braid); and a braid gateway pair with lanes = 1, 2 and
#     0 (one per core). Repetitions are interleaved (every setup once, then
#     again), so that a burst of load from other tenants spreads over all
#     setups instead of landing on one; medians are reported.
#  2. Time to the first echoed byte (connect, send 1 byte, receive it):
#     direct, through braid with the tunnel up, and through braid with the
#     tunnel cold (torn down after a 1 s idle_timeout).
#     Fairness: the round-trip time of a small request/response flow on an
#     idle tunnel, and beside a bulk iperf3 flow on the same tunnel; and how
#     two bulk flows share (directly, and through one tunnel).
#  3. Both gateways' memory (VmRSS) with FLOWS idle flows open.
#  4. A perf profile of both gateways during a single-flow transfer, and
#     each gateway thread's CPU use during it.
# and writes the Gateway section of bench/RESULTS.md (between its markers;
# the SFT section is left alone). Raw outputs stay in $BUILD/gwbench/.
#
# Usage: bench/run_gateway_bench.sh
# Environment: BUILD (default build-gwbench), DURATION (seconds per iperf3
# run, default 5), REPS (default 3), FLOWS (idle flows, default 10000),
# SOCAT_BUFFER (socat -b, default 131072: socat's own 8 KiB default makes
# the plain relay slower than the TLS chain here, which says nothing useful),
# JOBS (build parallelism, default 1), NO_PROFILE=1 (skip perf),
# NO_WRITE=1 (print the section instead of writing bench/RESULTS.md),
# SKIP_BUILD=1 (use the binaries already in BUILD), OUTDIR (raw outputs).
# Loopback only, free ports only; every process it starts is stopped on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
build=${BUILD:-build-gwbench}
dur=${DURATION:-5}
reps=${REPS:-3}
nflows=${FLOWS:-10000}
socat_buffer=${SOCAT_BUFFER:-131072}
jobs=${JOBS:-1}
nb=$root/bench/gateway/netbench.py

for tool in iperf3 socat stunnel4 python3; do
  command -v "$tool" >/dev/null || { echo "run_gateway_bench: $tool is missing (scripts/bootstrap)" >&2; exit 1; }
done

if [ -z "${SKIP_BUILD:-}" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DBRAID_BUILD_TESTS=OFF -DBRAID_BUILD_BENCH=OFF >/dev/null
  cmake --build "$build" -j"$jobs" --target braid-proxy braidctl
fi
case $build in /*) bdir=$build ;; *) bdir=$root/$build ;; esac
proxy=$bdir/proxy/braid-proxy
ctl=$bdir/braidctl/braidctl

out=${OUTDIR:-$bdir/gwbench}
rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d /tmp/braid-gwbench.XXXXXX)

# Every process started here is recorded, and stopped on any exit.
pids=()
cleanup() {
  local rc=$?
  exec 7>&-
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  cp "$work"/*.log "$work"/*.json "$out"/ 2>/dev/null || true
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

# wait_for FILE PATTERN SECONDS [PID]: wait until PATTERN appears in FILE;
# fail at once if process PID has exited.
wait_for() {
  local deadline=$((SECONDS + $3))
  until grep -q -- "$2" "$1" 2>/dev/null; do
    if ((SECONDS >= deadline)) || { [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null; }; then
      log "gave up waiting for '$2' in $1"; tail -5 "$1" >&2 || true; return 1
    fi
    sleep 0.05
  done
}
# wait_port PORT SECONDS: wait until something listens on 127.0.0.1:PORT.
wait_port() {
  local deadline=$((SECONDS + $2))
  until python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 1).close()" 2>/dev/null; do
    if ((SECONDS >= deadline)); then log "nothing listens on port $1"; return 1; fi
    sleep 0.05
  done
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }

# 10,000 flows need about 10,000 descriptors in each gateway, the target
# and the client.
ulimit -n "$(ulimit -Hn)"
if (($(ulimit -n) < nflows + 200)); then
  nflows=$(($(ulimit -n) - 200))
  log "ulimit -n is $(ulimit -n): only $nflows idle flows"
fi

# --- Machine and versions --------------------------------------------------
{
  echo "nproc=$(nproc)"
  echo "cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "kernel=$(uname -r)"
  echo "date=$(date -Iseconds)"
  echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "iperf3=$(iperf3 --version | head -1)"
  echo "socat=$(socat -V | awk '/socat version/ {print $3; exit}') ($(dpkg-query -W -f='${Version}' socat))"
  echo "stunnel=$(stunnel4 -version 2>&1 | awk '/^stunnel/ {print $2; exit}') ($(dpkg-query -W -f='${Version}' stunnel4)), $(stunnel4 -version 2>&1 | grep -m1 '^Running' | sed 's/^Running *with //')"
  echo "compiler=$(c++ --version | head -1)"
  echo "tree=$(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(git status --porcelain 2>/dev/null | wc -l) files changed or added since"
  echo "perf=$(perf --version 2>/dev/null || echo none)"
  echo "socat_buffer=$socat_buffer"
  echo "duration=$dur"
  echo "reps=$reps"
} >"$out/machine.txt"
log "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# --- PKI, policy ----------------------------------------------------------
cd "$work"
"$ctl" pki init pki >/dev/null
"$ctl" pki issue pki gw-a >/dev/null
"$ctl" pki issue pki gw-b >/dev/null
cat >policy.json <<'JSON'
{"name": "gwbench", "default": "deny",
 "rules": [{"id": "bench", "action": "permit", "proto": "tcp",
            "src": ["127.0.0.0/8"], "dst": ["127.0.0.1"],
            "src_gateway": ["gw-a"], "dst_gateway": ["gw-b"]}]}
JSON

read -r p_iperf p_socat_a p_socat_b p_st_a p_st_b p_echo <<<"$(python3 "$nb" free-ports 6)"

# --- Servers and baseline relays -------------------------------------------
iperf3 -s -B 127.0.0.1 -p "$p_iperf" >iperf3-server.log 2>&1 & pids+=($!)
python3 "$nb" echo "$p_echo" >echo.log 2>&1 & pids+=($!)
echo_pid=$!

# Two chained socat relays, one process per connection (fork), as an
# operator would run them, with a larger buffer than socat's 8 KiB default.
socat -b "$socat_buffer" TCP-LISTEN:"$p_socat_b",bind=127.0.0.1,reuseaddr,fork TCP:127.0.0.1:"$p_iperf" 2>socat-b.log & pids+=($!)
socat_b_pid=$!
socat -b "$socat_buffer" TCP-LISTEN:"$p_socat_a",bind=127.0.0.1,reuseaddr,fork TCP:127.0.0.1:"$p_socat_b" 2>socat-a.log & pids+=($!)
socat_a_pid=$!

# The stunnel chain: client side (plain in, TLS out) -> server side (TLS in,
# plain out to iperf3). Mutual TLS 1.3 with the braid PKI's ECDSA P-256
# certificates, and TLS_AES_128_GCM_SHA256, the suite braid's BoringSSL
# negotiates on AES-NI hardware (OpenSSL would pick AES-256-GCM).
stunnel_common() {
  cat <<CONF
foreground = yes
pid =
output = $work/$1.log
debug = 4
[relay]
CAfile = $work/pki/ca.crt
verifyChain = yes
sslVersionMin = TLSv1.3
sslVersionMax = TLSv1.3
ciphersuites = TLS_AES_128_GCM_SHA256
CONF
}
{ stunnel_common stunnel-a; cat <<CONF
client = yes
accept = 127.0.0.1:$p_st_a
connect = 127.0.0.1:$p_st_b
cert = $work/pki/gw-a.crt
key = $work/pki/gw-a.key
checkHost = gw-b
CONF
} >stunnel-a.conf
{ stunnel_common stunnel-b; cat <<CONF
accept = 127.0.0.1:$p_st_b
connect = 127.0.0.1:$p_iperf
cert = $work/pki/gw-b.crt
key = $work/pki/gw-b.key
requireCert = yes
checkHost = gw-a
CONF
} >stunnel-b.conf
stunnel4 stunnel-b.conf 2>stunnel-b.err & pids+=($!)
stunnel_b_pid=$!
stunnel4 stunnel-a.conf 2>stunnel-a.err & pids+=($!)
stunnel_a_pid=$!

for p in "$p_iperf" "$p_echo" "$p_socat_a" "$p_socat_b" "$p_st_a" "$p_st_b"; do wait_port "$p" 20; done

# --- braid gateway pairs ------------------------------------------------------
# start_pair NAME LANES IDLE [LOGLEVEL]: gw-b (accepts tunnels, no services) and gw-a
# with services "iperf" and "echo". Sets NAME_a_pid, NAME_b_pid,
# NAME_iperf, NAME_echo. Ports: the gateways bind port 0 and log the port.
start_pair() {
  local name=$1 lanes=$2 idle=$3 level=${4:-info}
  local limits='"limits": {"max_flows": 1000000, "max_flows_per_source": 1000000}, "log": {"level": "'$level'"}'
  cat >"$name-b.json" <<JSON
{"name": "gw-b",
 "identity": {"cert": "pki/gw-b.crt", "key": "pki/gw-b.key", "ca": "pki/ca.crt"},
 "tunnel": {"listen": "127.0.0.1:0", "lanes": $lanes, "idle_timeout": "$idle"},
 "policy": {"file": "policy.json"}, $limits}
JSON
  "$proxy" --config "$name-b.json" >"$name-b.log" 2>&1 & pids+=($!)
  printf -v "${name}_b_pid" %s $!
  wait_for "$name-b.log" "tunnel listener on" 30 $!
  local tport
  tport=$(grep -o 'tunnel listener on 127.0.0.1:[0-9]*' "$name-b.log" | head -1 | cut -d: -f2)
  cat >"$name-a.json" <<JSON
{"name": "gw-a",
 "identity": {"cert": "pki/gw-a.crt", "key": "pki/gw-a.key", "ca": "pki/ca.crt"},
 "tunnel": {"listen": "127.0.0.1:0", "lanes": $lanes, "idle_timeout": "$idle"},
 "peers": [{"name": "gw-b", "address": "127.0.0.1:$tport"}],
 "services": [
   {"name": "iperf", "listen": "127.0.0.1:0", "peer": "gw-b", "target": "127.0.0.1:$p_iperf"},
   {"name": "echo", "listen": "127.0.0.1:0", "peer": "gw-b", "target": "127.0.0.1:$p_echo"}],
 "policy": {"file": "policy.json"}, $limits}
JSON
  "$proxy" --config "$name-a.json" >"$name-a.log" 2>&1 & pids+=($!)
  printf -v "${name}_a_pid" %s $!
  wait_for "$name-a.log" "service echo on" 30 $!
  printf -v "${name}_iperf" %s "$(grep -o 'service iperf on 127.0.0.1:[0-9]*' "$name-a.log" | cut -d: -f2)"
  printf -v "${name}_echo" %s "$(grep -o 'service echo on 127.0.0.1:[0-9]*' "$name-a.log" | cut -d: -f2)"
}
# require_pair NAME: stop the run if a gateway of pair NAME has exited (a
# crash, or a process killed from outside): its figures would be garbage.
require_pair() {
  local side pid
  for side in a b; do
    pid=${1}_${side}_pid
    if ! kill -0 "${!pid}" 2>/dev/null; then
      wait "${!pid}" 2>/dev/null; local rc=$?
      log "gateway $1-$side (pid ${!pid}) has exited with status $rc; last lines of its log:"
      tail -n 5 "$work/$1-$side.log" >&2 || true
      exit 1
    fi
  done
}
stop_pair() {
  local a b
  a=${1}_a_pid b=${1}_b_pid
  kill "${!a}" "${!b}" 2>/dev/null || true
  wait "${!a}" "${!b}" 2>/dev/null || true
}

start_pair l1 1 600s
start_pair l2 2 600s
start_pair l0 0 600s
grep -ho "[0-9]* workers, [0-9]* lanes per tunnel" l1-a.log l2-a.log l0-a.log | sed 's/^/  /' >&2

# --- 1. Throughput ------------------------------------------------------------
setups=(direct socat stunnel braid-l1 braid-l2 braid-l0)
port_of() {
  case $1 in
    direct) echo "$p_iperf" ;; socat) echo "$p_socat_a" ;; stunnel) echo "$p_st_a" ;;
    braid-l1) echo "$l1_iperf" ;; braid-l2) echo "$l2_iperf" ;; braid-l0) echo "$l0_iperf" ;;
  esac
}
# iperf_run PORT FLOWS JSONFILE: sets gbps to the Gbit/s received, or "fail".
# Not run in a subshell: it may have to restart the iperf3 server (pids[0]).
iperf_run() {
  if timeout $((dur + 30)) iperf3 -c 127.0.0.1 -p "$1" -t "$dur" -P "$2" -J >"$3" 2>&1 &&
     gbps=$(python3 "$nb" iperf "$3" 2>/dev/null); then
    return 0
  fi
  gbps=fail
  # A failed client can leave the iperf3 server stuck in a test: restart it.
  kill "${pids[0]}" 2>/dev/null || true; wait "${pids[0]}" 2>/dev/null || true
  iperf3 -s -B 127.0.0.1 -p "$p_iperf" >>iperf3-server.log 2>&1 & pids[0]=$!
  wait_port "$p_iperf" 20 || true
}
# Warm-up, not recorded: the first transfer through a fresh gateway pair
# also builds the tunnel and grows both heaps (page faults), which made the
# first repetition of every braid setup 20-30% slower than the others.
for setup in "${setups[@]}"; do
  timeout 30 iperf3 -c 127.0.0.1 -p "$(port_of "$setup")" -t 1 -P 8 >/dev/null 2>&1 || true
done
total=$((reps * 2 * ${#setups[@]}))
log "throughput: $total iperf3 runs of ${dur}s (about $((total * (dur + 1) / 60 + 1)) min)"
: >"$out/throughput.tsv"
for ((rep = 1; rep <= reps; rep++)); do
  for flows in 1 8; do
    for setup in "${setups[@]}"; do
      iperf_run "$(port_of "$setup")" "$flows" "$work/iperf-$setup-P$flows-r$rep.json"
      case $setup in braid-*) require_pair "${setup#braid-}" ;; esac
      printf '%s\t%s\t%s\t%s\n' "$setup" "$flows" "$rep" "$gbps" >>"$out/throughput.tsv"
      log "  rep $rep  -P $flows  $setup: $gbps Gbit/s"
    done
  done
done
# Check that braid carried iperf3 with its own TLS parameters as assumed.
grep -h -m1 -o "TLS[^,]*AES[^ ,]*" l0-a.log >"$out/braid-cipher.txt" 2>/dev/null || true
stop_pair l1
stop_pair l2

# --- 2. Time to the first echoed byte -------------------------------------------
log "first byte: direct and braid warm (50 each), braid cold (10, 1 s idle teardown)"
python3 "$nb" rtt 127.0.0.1 "$p_echo" 5 >/dev/null  # warm-up
python3 "$nb" rtt 127.0.0.1 "$p_echo" 50 >"$out/rtt-direct.json"
python3 "$nb" rtt 127.0.0.1 "$l0_echo" 5 >/dev/null  # the tunnel is up
python3 "$nb" rtt 127.0.0.1 "$l0_echo" 50 >"$out/rtt-warm.json"

# --- 2b. Fairness: a small flow beside a bulk flow on the same tunnel ----------
log "fairness: 64-byte request/response on the l0 tunnel, idle, then beside a bulk iperf3 flow"
python3 "$nb" pingpong 127.0.0.1 "$l0_echo" 300 >"$out/fair-idle.json"
iperf3 -c 127.0.0.1 -p "$l0_iperf" -t $((dur + 4)) -J >"$out/fair-bulk.json" 2>&1 &
bulk=$!
sleep 1
python3 "$nb" pingpong 127.0.0.1 "$l0_echo" 300 >"$out/fair-busy.json"
wait "$bulk" || true
require_pair l0
# The same beside a bulk flow capped at 1 Gbit/s, which leaves the gateways
# CPU to spare: what the tunnel's queues cost, apart from a saturated CPU.
iperf3 -c 127.0.0.1 -p "$l0_iperf" -t $((dur + 4)) -b 1G -J >"$out/fair-bulk-1g.json" 2>&1 &
bulk=$!
sleep 1
python3 "$nb" pingpong 127.0.0.1 "$l0_echo" 300 >"$out/fair-busy-1g.json"
wait "$bulk" || true
require_pair l0
# And the machine's own baseline: the small flow beside a saturating bulk
# flow, both direct.
iperf3 -c 127.0.0.1 -p "$p_iperf" -t $((dur + 4)) -J >/dev/null 2>&1 &
bulk=$!
sleep 1
python3 "$nb" pingpong 127.0.0.1 "$p_echo" 300 >"$out/fair-direct-busy.json"
wait "$bulk" || true
# Two bulk flows at once: how evenly they share, directly and through the
# same tunnel (per-stream receive rates of one iperf3 -P 2 run each).
log "fairness: two bulk flows at once, direct and through the l0 tunnel"
iperf3 -c 127.0.0.1 -p "$p_iperf" -t "$dur" -P 2 -J >"$out/fair-two-direct.json" 2>&1 || true
iperf3 -c 127.0.0.1 -p "$l0_iperf" -t "$dur" -P 2 -J >"$out/fair-two-braid.json" 2>&1 || true
require_pair l0
stop_pair l0

start_pair cold 0 1s debug
# The very first flow also pays for the full handshake (no session ticket yet).
python3 "$nb" rtt 127.0.0.1 "$cold_echo" 1 >"$out/rtt-first.json"
# Then 10 flows, each after the tunnel was torn down for being idle.
python3 "$nb" cold 127.0.0.1 "$cold_echo" 10 cold-a.log >"$out/rtt-cold.json"
# Lanes of rebuilt tunnels should resume the TLS session (logged at debug).
printf '%s\t%s\n' "$(grep -c ' up (resumed)' cold-a.log || true)" "$(grep -c ' up$' cold-a.log || true)" \
  >"$out/cold-lanes.tsv"
require_pair cold
stop_pair cold

# --- 3. Memory with idle flows ------------------------------------------------
log "memory: $nflows idle flows through a fresh gateway pair"
start_pair mem 0 600s
printf 'start\t%s\t%s\n' "$(rss_kib "$mem_a_pid")" "$(rss_kib "$mem_b_pid")" >"$out/memory.tsv"
python3 "$nb" rtt 127.0.0.1 "$mem_echo" 3 >/dev/null
base_a=$(fds "$mem_a_pid") base_b=$(fds "$mem_b_pid")
printf 'tunnel\t%s\t%s\t%s\t%s\n' "$(rss_kib "$mem_a_pid")" "$(rss_kib "$mem_b_pid")" "$base_a" "$base_b" \
  >>"$out/memory.tsv"
mem_row() {  # STATE: both gateways' VmRSS (KiB) and descriptor counts
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$(rss_kib "$mem_a_pid")" "$(rss_kib "$mem_b_pid")" \
    "$(fds "$mem_a_pid")" "$(fds "$mem_b_pid")" "$nflows" >>"$out/memory.tsv"
}
# settle: until both gateways' RSS has stopped growing (the last flows'
# buffers are allocated when their OPEN_OK arrives, after the socket exists).
settle() {
  local deadline=$((SECONDS + 30)) a0 b0 a1 b1
  a0=$(rss_kib "$mem_a_pid") b0=$(rss_kib "$mem_b_pid")
  while ((SECONDS < deadline)); do
    sleep 1
    a1=$(rss_kib "$mem_a_pid") b1=$(rss_kib "$mem_b_pid")
    ((a1 - a0 < a0 / 200 && b1 - b0 < b0 / 200)) && return 0
    a0=$a1 b0=$b1
  done
}
# wait_fds PID COUNT SECONDS: until PID has at least COUNT descriptors.
wait_fds() {
  local deadline=$((SECONDS + $3))
  until (($(fds "$1") >= $2)); do
    ((SECONDS < deadline)) || { log "pid $1 has $(fds "$1") descriptors, expected $2"; return 1; }
    sleep 0.2
  done
}
mkfifo hold.fifo
python3 "$nb" open 127.0.0.1 "$mem_echo" "$nflows" <hold.fifo >open.log 2>&1 & pids+=($!)
open_pid=$!
exec 7>hold.fifo
# Phase 1: the flows are open end to end (gw-b holds a socket to the target
# for each) but have carried no byte yet.
if wait_for open.log "^connected $nflows" 300 "$open_pid" && wait_fds "$mem_a_pid" $((base_a + nflows)) 300 &&
   wait_fds "$mem_b_pid" $((base_b + nflows)) 300; then
  settle
  mem_row connected
  # Phase 2: one byte echoed through each flow, so every per-flow buffer that
  # the data path allocates on first use exists.
  echo echo >&7
  if wait_for open.log "^echoed $nflows" 300 "$open_pid"; then
    settle
    mem_row echoed
  else
    mem_row echo-failed
  fi
else
  mem_row connect-failed
fi
cat open.log >&2
exec 7>&-
wait "$open_pid" 2>/dev/null || true
deadline=$((SECONDS + 60))
while (($(fds "$mem_a_pid") > base_a + 10 || $(fds "$mem_b_pid") > base_b + 10)) && ((SECONDS < deadline)); do
  sleep 0.2
done
sleep 1
mem_row closed
require_pair mem
stop_pair mem

# --- 4. Profile of a single-flow transfer -----------------------------------------
start_pair prof 0 600s
python3 "$nb" rtt 127.0.0.1 "$prof_echo" 1 >/dev/null  # build the tunnel first
# CPU cost of one flow through each relay: both relay processes' CPU time
# (all threads, and socat's per-connection children) over an iperf3 -P 1 run.
log "CPU cost: one flow through socat, stunnel and braid, ${dur}s each"
: >"$out/relay-cpu.tsv"
for setup in socat stunnel braid; do
  case $setup in
    socat) port=$p_socat_a specs=("a:$socat_a_pid" "b:$socat_b_pid") ;;
    stunnel) port=$p_st_a specs=("a:$stunnel_a_pid" "b:$stunnel_b_pid") ;;
    braid) port=$prof_iperf specs=("a:$prof_a_pid" "b:$prof_b_pid") ;;
  esac
  timeout $((dur + 30)) iperf3 -c 127.0.0.1 -p "$port" -t "$dur" -P 1 -J >"$work/iperf-cpu-$setup.json" 2>&1 &
  iperf_client=$!
  pids+=("$iperf_client")
  cpu=$(python3 "$nb" proccpu "$iperf_client" "${specs[@]}" || echo '{}')
  wait "$iperf_client" || true
  g=$(python3 "$nb" iperf "$work/iperf-cpu-$setup.json" 2>/dev/null || echo fail)
  printf '%s\t%s\t%s\n' "$setup" "$g" "$cpu" >>"$out/relay-cpu.tsv"
done
require_pair prof

if [ -z "${NO_PROFILE:-}" ] && command -v perf >/dev/null; then
  log "profile: perf record -g on both gateways, iperf3 -P 1 for ${dur}s"
  perf record -q -F 499 -g -o "$work/perf.data" -p "$prof_a_pid,$prof_b_pid" -- sleep $((dur + 1)) \
    >perf-record.log 2>&1 & perf_pid=$!
  pids+=("$perf_pid")
  sleep 0.5
fi
timeout $((dur + 30)) iperf3 -c 127.0.0.1 -p "$prof_iperf" -t "$dur" -P 1 -J >"$work/iperf-profile.json" 2>&1 &
iperf_client=$!
pids+=("$iperf_client")
python3 "$nb" threadcpu "$iperf_client" "gw-a:$prof_a_pid" "gw-b:$prof_b_pid" \
  "iperf3-server:${pids[0]}" >"$out/threadcpu.json" || true
wait "$iperf_client" || true
gbps=$(python3 "$nb" iperf "$work/iperf-profile.json" 2>/dev/null || echo fail)
echo "$gbps" >"$out/profile-gbps.txt"
python3 -c "import json; print(json.dumps(json.load(open('$work/iperf-profile.json'))['end']['cpu_utilization_percent']))" \
  >"$out/iperf-cpu.json" 2>/dev/null || true
if [ -n "${perf_pid:-}" ]; then
  wait "$perf_pid" || true
  # One flat table of every sample's thread, binary and symbol; render.py
  # splits it by gateway (perf report's --pid and --tid filters drop samples
  # with this perf version, so no filter is used).
  perf report -i "$work/perf.data" --no-children --stdio -g none --sort pid,dso,sym -t '|' 2>/dev/null |
    grep -v '^#' | grep '%' >"$out/perf-samples.psv" || true
  # Inclusive time under the kernel's entry points (kernel call chains are
  # exact even without frame pointers in user space).
  perf report -i "$work/perf.data" --children --stdio -g none --sort pid,sym -t '|' 2>/dev/null |
    grep -E '\[k\] (entry_SYSCALL_64_after_hwframe|asm_exc_page_fault|handle_softirqs|__schedule)$' \
    >"$out/perf-kernel.psv" || true
  for side in a b; do
    pid_var=prof_${side}_pid
    ls "/proc/${!pid_var}/task" >"$out/perf-gw-$side.tids"
  done
  perf report -i "$work/perf.data" --no-children --sort sym --stdio -g caller,0.5,callee --percent-limit 3 \
    2>/dev/null | head -300 >"$out/perf-callgraph.txt" || true
  cp "$work/perf.data" "$out/perf.data" 2>/dev/null || true
fi
require_pair prof
stop_pair prof
echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"

# --- Results -----------------------------------------------------------------------
cd "$root"
if [ -z "${NO_WRITE:-}" ]; then
  python3 bench/gateway/render.py "$out" bench/RESULTS.md
  log "wrote the Gateway section of bench/RESULTS.md (raw outputs in $out)"
else
  python3 bench/gateway/render.py "$out" -
fi
