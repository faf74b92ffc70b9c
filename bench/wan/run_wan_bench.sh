#!/usr/bin/env bash
# The WAN bench (issue 14): one bulk TCP flow from namespace A to namespace
# B across braid-link-emulator's emulated WAN link (bench/wan/README.md),
# for each scenario (round trip, loss, per-connection policer, congestion
# control), through:
#   direct    iperf3 in A straight to iperf3 -s in B, across the link;
#   stunnel   a two-hop stunnel4 chain: client-mode stunnel in A (plain in,
#             TLS out across the link), server-mode stunnel in B (TLS in,
#             plain out to iperf3); mutual TLS 1.3 with braid's PKI and
#             the suite braid negotiates (TLS_AES_128_GCM_SHA256);
#   braid-lN  a braid gateway pair: gw-a in A (service "iperf") dials gw-b
#             in B across the link; tunnel.lanes = N (0: braid's default,
#             from the first lane's round trip: per core, at least 8 on a long link).
# Each scenario gets fresh namespaces, emulator and relays. Runs are
# interleaved (every setup once, then again) so that a burst of load from
# elsewhere spreads over all setups; medians are reported. A run whose
# iperf3 fails is tried once more (its server restarted first). First, the
# emulator's own ceiling: direct at zero delay. Then the WAN section of
# bench/RESULTS.md is written between its markers (the other sections are
# left alone); raw outputs stay in $OUTDIR.
#
# Usage: bench/wan/run_wan_bench.sh
# Environment:
#   DURATION    seconds per iperf3 run (default 8)
#   REPS        repetitions (default 3)
#   SCENARIOS   space-separated scenario names (bench/wan/wanbench.py
#               scenario), default: $default_scenarios below
#   FILTER      extended regex: only the scenarios it matches (FILTER='^rtt40$')
#   SETUPS      default "direct stunnel braid-l1 braid-l4 braid-l8 braid-l0"
#   BRAID_TUNNEL_EXTRA  JSON members added to both gateways' "tunnel"
#               object, e.g. '"flow_window_max_bytes": 268435456'
#   RATE_MBIT   link rate in every scenario (default 0: unlimited)
#   NO_CEILING=1  skip the ceiling measurement
#   SECTION     RESULTS.md section to write (default WAN; another name gets
#               a section of its own, e.g. for a BRAID_TUNNEL_EXTRA run)
#   NO_WRITE=1  print the section instead of writing bench/RESULTS.md
#   BUILD       build directory (default build-wan); SKIP_BUILD=1 uses its
#               binaries as they are; JOBS build parallelism (default 2)
#   OUTDIR      raw outputs (default $BUILD/wanbench)
# Needs root, /dev/net/tun, ip netns, iperf3, stunnel4 and python3. All
# traffic stays inside the two namespaces (198.18.0.0/30 and their own
# loopback); every process and namespace it starts is removed on exit.
set -euo pipefail

cd "$(dirname "$0")/../.."
root=$PWD
build=${BUILD:-build-wan}
dur=${DURATION:-8}
reps=${REPS:-3}
jobs=${JOBS:-2}
rate=${RATE_MBIT:-0}
wb=$root/bench/wan/wanbench.py
default_scenarios="rtt2 rtt20 rtt80 rtt2-loss0.01 rtt20-loss0.01 rtt80-loss0.01 rtt2-loss0.1 rtt20-loss0.1
  rtt80-loss0.1 rtt10-cap1000 rtt40 rtt40-bbr rtt80-loss0.1-bbr rtt10-cap1000-bbr"
read -r -a setups <<<"${SETUPS:-direct stunnel braid-l1 braid-l4 braid-l8 braid-l0}"

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "run_wan_bench: $*"; exit 1; }

scenarios=()
for s in ${SCENARIOS:-$default_scenarios}; do
  if [ -z "${FILTER:-}" ] || grep -qE -- "$FILTER" <<<"$s"; then scenarios+=("$s"); fi
done
((${#scenarios[@]})) || die "no scenario matches FILTER='${FILTER:-}'"
for s in "${scenarios[@]}"; do python3 "$wb" scenario "$s" >/dev/null || exit 1; done
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, TUN devices)"
[ -c /dev/net/tun ] || die "no /dev/net/tun"
for tool in iperf3 stunnel4 python3 ip; do
  command -v "$tool" >/dev/null || die "$tool is missing (scripts/bootstrap)"
done

if [ -z "${SKIP_BUILD:-}" ]; then
  [ -f "$build/CMakeCache.txt" ] || cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j"$jobs" --target braid-proxy braidctl braid-link-emulator
fi
case $build in /*) bdir=$build ;; *) bdir=$root/$build ;; esac
proxy=$bdir/proxy/braid-proxy
ctl=$bdir/braidctl/braidctl
export WAN_EMULATOR=$bdir/bench/wan/braid-link-emulator
for bin in "$proxy" "$ctl" "$WAN_EMULATOR"; do [ -x "$bin" ] || die "$bin is missing (build it, or unset SKIP_BUILD)"; done
# shellcheck source=bench/wan/netns.sh
source "$root/bench/wan/netns.sh"

out=${OUTDIR:-$bdir/wanbench}
rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d /tmp/braid-wanbench.XXXXXX)

# Every process started here is recorded, and stopped when its scenario
# ends or on any exit; wan_down removes the namespaces.
pids=()
stop_processes() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  local rc=$?
  stop_processes
  wan_down 2>/dev/null
  cp "$work"/*.log "$work"/*.json "$work"/*.conf "$out"/ 2>/dev/null || true
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NS LOG CMD...: CMD in namespace NS, in the background; its pid (ip
# netns exec execs CMD, so it is CMD's own) in last_pid.
start() {
  local ns=$1 logfile=$2
  shift 2
  ip netns exec "$ns" "$@" >"$work/$logfile" 2>&1 &
  last_pid=$!
  pids+=("$last_pid")
}
# wait_for FILE PATTERN SECONDS PID: until PATTERN is in FILE; fails at once
# if PID has exited.
wait_for() {
  local deadline=$((SECONDS + $3))
  until grep -q -- "$2" "$1" 2>/dev/null; do
    if ((SECONDS >= deadline)) || ! kill -0 "$4" 2>/dev/null; then
      log "gave up waiting for '$2' in $1"; tail -5 "$1" >&2 || true; return 1
    fi
    sleep 0.05
  done
}
# wait_listen NS PORT: until a socket listens on PORT inside NS. Seen with
# ss, not by connecting: a probe through a relay would reach iperf3 -s as a
# test of its own, and an iperf3 server busy with a bogus test refuses the
# next real one.
wait_listen() {
  local deadline=$((SECONDS + 20))
  until ip netns exec "$1" ss -Hltn "sport = :$2" | grep -q .; do
    ((SECONDS < deadline)) || die "nothing listens on port $2 in $1"
    sleep 0.05
  done
}
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# --- Machine, versions, PKI, policy ------------------------------------------
python3 "$wb" machine "$(awk -F= '/^CMAKE_HOME_DIRECTORY:/ {print $2}' "$bdir/CMakeCache.txt")" \
  "build_type=$(awk -F= '/^CMAKE_BUILD_TYPE:/ {print $2}' "$bdir/CMakeCache.txt")" \
  "duration=$dur" "reps=$reps" "rate_mbit=$rate" "mtu=${WAN_MTU:-65000}" \
  "tunnel_extra=${BRAID_TUNNEL_EXTRA:-}" "setups=${setups[*]}" >"$out/machine.txt"
log "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); scenarios: ${scenarios[*]}"
cd "$work"
"$ctl" pki init pki >/dev/null
for gw in gw-a gw-b; do "$ctl" pki issue pki "$gw" >/dev/null; done
python3 "$wb" policy policy.json

p_iperf=5201 p_st_a=7001 p_st_b=7002
# stunnel_conf SIDE ACCEPT CONNECT: the two ends of the stunnel chain, as in
# bench/run_gateway_bench.sh: mutual TLS 1.3, TLS_AES_128_GCM_SHA256.
stunnel_conf() {
  local side=$1 peer
  [ "$side" = a ] && peer=b || peer=a
  cat <<CONF
foreground = yes
pid =
output = $work/stunnel-$side.log
debug = 4
[relay]
CAfile = $work/pki/ca.crt
verifyChain = yes
sslVersionMin = TLSv1.3
sslVersionMax = TLSv1.3
ciphersuites = TLS_AES_128_GCM_SHA256
accept = $2
connect = $3
cert = $work/pki/gw-$side.crt
key = $work/pki/gw-$side.key
checkHost = gw-$peer
CONF
  if [ "$side" = a ]; then echo "client = yes"; else echo "requireCert = yes"; fi
}
stunnel_conf a "127.0.0.1:$p_st_a" "$WAN_ADDR_B:$p_st_b" >stunnel-a.conf
stunnel_conf b "$WAN_ADDR_B:$p_st_b" "127.0.0.1:$p_iperf" >stunnel-b.conf

# --- One scenario -------------------------------------------------------------
# setup_index SETUP: its position in $setups, for its ports.
setup_index() {
  local i
  for i in "${!setups[@]}"; do [ "${setups[$i]}" = "$1" ] && { echo "$i"; return; }; done
}
# start_scenario NAME TAG [SPEC]: the link of scenario SPEC (default NAME),
# iperf3 -s, and every setup's relays. Sets srv_pid, and relay_a[SETUP],
# relay_b[SETUP] (pids).
declare -A relay_a relay_b
start_scenario() {
  local name=$1 tag=$2 setup i lanes link_rate
  local delay_ms='' loss='' cap_mbit='' rate_mbit='' cc=''  # set by the eval
  eval "$(python3 "$wb" scenario "${3:-$name}")"
  link_rate=$rate_mbit
  [ "$link_rate" = 0 ] && link_rate=$rate
  WAN_CC=$cc wan_up "$tag" --delay-ms "$delay_ms" --loss "$loss" --per-conn-mbit "$cap_mbit" \
    --rate-mbit "$link_rate" || die "could not set up the link for $name"
  grep '^ready' "$WAN_EMULATOR_LOG" | sed 's/^/  emulator /' >&2
  start "$WAN_NS_B" "iperf3-s-$name.log" iperf3 -s -p "$p_iperf"
  srv_pid=$last_pid
  relay_a=() relay_b=()
  for setup in "${setups[@]}"; do
    case $setup in
      direct) ;;
      stunnel)
        start "$WAN_NS_B" "stunnel-b-$name.err" stunnel4 "$work/stunnel-b.conf"
        relay_b[$setup]=$last_pid
        wait_listen "$WAN_NS_B" "$p_st_b"
        start "$WAN_NS_A" "stunnel-a-$name.err" stunnel4 "$work/stunnel-a.conf"
        relay_a[$setup]=$last_pid
        ;;
      braid-l*)
        lanes=${setup#braid-l} i=$(setup_index "$setup")
        python3 "$wb" gateway-config "$setup-b.json" gw-b "$lanes" "$WAN_ADDR_B:$((4400 + i))"
        start "$WAN_NS_B" "$setup-b-$name.log" "$proxy" --config "$work/$setup-b.json"
        relay_b[$setup]=$last_pid
        wait_for "$work/$setup-b-$name.log" "tunnel listener on" 30 "$last_pid" || die "gw-b of $setup did not start"
        python3 "$wb" gateway-config "$setup-a.json" gw-a "$lanes" 127.0.0.1:0 \
          "$WAN_ADDR_B:$((4400 + i))" "127.0.0.1:$((8100 + i))" "127.0.0.1:$p_iperf"
        start "$WAN_NS_A" "$setup-a-$name.log" "$proxy" --config "$work/$setup-a.json"
        relay_a[$setup]=$last_pid
        wait_for "$work/$setup-a-$name.log" "service iperf on" 30 "$last_pid" || die "gw-a of $setup did not start"
        ;;
      *) die "unknown setup '$setup'" ;;
    esac
  done
  wait_listen "$WAN_NS_B" "$p_iperf"
  for setup in "${setups[@]}"; do
    target_of "$setup"
    [ "$setup" = direct ] || wait_listen "$WAN_NS_A" "$port"
  done
}
# target_of SETUP: where iperf3 in A connects for SETUP (host, port).
target_of() {
  case $1 in
    direct) host=$WAN_ADDR_B port=$p_iperf ;;
    stunnel) host=127.0.0.1 port=$p_st_a ;;
    braid-l*) host=127.0.0.1 port=$((8100 + $(setup_index "$1"))) ;;
  esac
}
# iperf_once NAME SETUP REP SECONDS: one iperf3 flow A -> B, with the CPU
# use of the machine and of each process on the path. Sets g (Gbit/s),
# retr (retransmits), client_cores and cpu (JSON); fails if iperf3 did.
iperf_once() {
  local name=$1 setup=$2 rep=$3 secs=$4 json=$work/iperf-$1-$2-r$3.json client
  target_of "$setup"
  # iperf3 -s goes back to listening only once it has finished the
  # previous test, which through a relay's buffers can take a moment.
  wait_listen "$WAN_NS_B" "$p_iperf"
  timeout $((secs + 30)) ip netns exec "$WAN_NS_A" iperf3 -c "$host" -p "$port" -t "$secs" -J >"$json" 2>&1 &
  client=$!
  local specs=("emulator:$WAN_EMULATOR_PID" "iperf3-s:$srv_pid")
  [ -n "${relay_a[$setup]:-}" ] && specs+=("relay-a:${relay_a[$setup]}" "relay-b:${relay_b[$setup]}")
  cpu=$(python3 "$wb" cpu "$client" "${specs[@]}" || echo '{}')
  wait "$client" || true
  if [ -n "${relay_a[$setup]:-}" ] && ! kill -0 "${relay_a[$setup]}" "${relay_b[$setup]}" 2>/dev/null; then
    die "a relay of $setup has exited during $name; see $out"
  fi
  read -r g retr client_cores < <(python3 "$wb" iperf "$json" 2>/dev/null) && return 0
  g=fail retr=0 client_cores=0
  log "  iperf3 through $setup failed: $(grep -o '"error":.*' "$json" || tail -c 200 "$json")"
  # A failed client can leave the iperf3 server stuck in its test.
  kill "$srv_pid" 2>/dev/null || true
  wait "$srv_pid" 2>/dev/null || true
  start "$WAN_NS_B" "iperf3-s-$name-$setup-r$rep.log" iperf3 -s -p "$p_iperf"
  srv_pid=$last_pid
  return 1
}
# run_iperf NAME SETUP REP SECONDS: iperf_once, once more if it failed;
# with REP, appends a row to throughput.tsv (scenario, setup, rep, Gbit/s,
# retransmits, the iperf3 client's cores, CPU JSON). Sets gbps.
run_iperf() {
  local g retr client_cores cpu
  iperf_once "$@" || iperf_once "$@" || true
  [ -n "$3" ] && printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$g" "$retr" "$client_cores" "$cpu" \
    >>"$out/throughput.tsv"
  gbps=$g
}
# lane_count LOG: the lanes gw-a's tunnel got: as its first lane decided
# (tunnel.lanes = 0), else as configured.
lane_count() {
  local n
  n=$(grep -oE "round trip [0-9.]+ ms: [0-9]+ lanes" "$1" | tail -1 | awk '{print $(NF-1)}')
  [ -n "$n" ] || n=$(grep -oE '[0-9]+ lanes per tunnel' "$1" | head -1 | cut -d' ' -f1)
  echo "$n"
}
# stop_scenario NAME: peak memory of the gateways, the emulator's counters
# and the TUN devices' own drops, then everything down.
stop_scenario() {
  local name=$1 setup side ns tun
  for setup in "${setups[@]}"; do
    case $setup in braid-l*)
      printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$setup" "$(hwm_kib "${relay_a[$setup]}")" "$(hwm_kib "${relay_b[$setup]}")" \
        "$(lane_count "$work/$setup-a-$name.log")" >>"$out/gateways.tsv"
    esac
  done
  for side in a b; do
    [ $side = a ] && ns=$WAN_NS_A tun=$WAN_TUN_A || ns=$WAN_NS_B tun=$WAN_TUN_B
    printf '%s\t%s\t%s\n' "$name" "$side" "$(ip netns exec "$ns" cat "/sys/class/net/$tun/statistics/tx_dropped")" \
      >>"$out/tun-drops.tsv"
  done
  stop_processes
  wan_down 2>"$out/link-$name.txt"
}

: >"$out/throughput.tsv"
: >"$out/gateways.tsv"
: >"$out/tun-drops.tsv"
tagbase=$$

# --- The emulator's ceiling ------------------------------------------------------
if [ -z "${NO_CEILING:-}" ]; then
  log "ceiling: direct through the emulator at zero delay, $reps x ${dur}s"
  saved=("${setups[@]}")
  setups=(direct)
  start_scenario ceiling "${tagbase}c" rtt0
  run_iperf ceiling direct "" 2
  for ((rep = 1; rep <= reps; rep++)); do
    run_iperf ceiling direct "$rep" "$dur"
    log "  rep $rep: $gbps Gbit/s"
  done
  stop_scenario ceiling
  setups=("${saved[@]}")
fi

# --- The scenarios ----------------------------------------------------------------
total=$((${#scenarios[@]} * reps * ${#setups[@]}))
log "throughput: $total iperf3 runs of ${dur}s (about $((total * (dur + 2) / 60 + ${#scenarios[@]} / 2 + 1)) min)"
n=0
for name in "${scenarios[@]}"; do
  n=$((n + 1))
  log "scenario $name ($n of ${#scenarios[@]})"
  start_scenario "$name" "${tagbase}s$n"
  # Warm-up, not recorded: builds braid's tunnels and both heaps.
  for setup in "${setups[@]}"; do run_iperf "$name" "$setup" "" 2; done
  for ((rep = 1; rep <= reps; rep++)); do
    for setup in "${setups[@]}"; do
      run_iperf "$name" "$setup" "$rep" "$dur"
      log "  rep $rep  $setup: $gbps Gbit/s"
    done
  done
  stop_scenario "$name"
done
echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"

# --- Results ---------------------------------------------------------------------------
cd "$root"
if [ -z "${NO_WRITE:-}" ]; then
  python3 bench/wan/render.py "$out" bench/RESULTS.md "${SECTION:-WAN}"
  log "wrote the ${SECTION:-WAN} section of bench/RESULTS.md (raw outputs in $out)"
else
  python3 bench/wan/render.py "$out" - "${SECTION:-WAN}"
fi
