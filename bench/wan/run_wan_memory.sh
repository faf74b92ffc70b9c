#!/usr/bin/env bash
# The memory target of the WAN bench (issue 14): a braid gateway pair with
# its defaults, across an emulated 80 ms link (bench/wan/netns.sh), carrying
# IDLE idle flows (default 1000) and one bulk iperf3 flow for DURATION
# seconds. Prints each gateway's resident memory (VmRSS) with the idle flows
# open, its peak while the bulk flow runs (sampled every 100 ms) and its
# VmHWM, the bulk flow's rate, and the largest receive window it reached.
# It writes nothing: the figures go to bench/RESULTS.md by hand.
#
# Usage: bench/wan/run_wan_memory.sh
# Environment: IDLE (idle flows, default 1000), DURATION (default 20), DELAY_MS
# (one way, default 40), LOSS (per packet, default 0.0001), WAN_CC (default
# cubic), BUILD (default build-wan, as run_wan_bench.sh builds it).
# Needs root, /dev/net/tun, ip netns, iperf3 and python3. Everything it
# starts is stopped on exit, and its namespaces are deleted.
set -euo pipefail

cd "$(dirname "$0")/../.."
root=$PWD
bdir=$root/${BUILD:-build-wan}
idle=${IDLE:-1000}
dur=${DURATION:-20}
delay_ms=${DELAY_MS:-40}
loss=${LOSS:-0.0001}
wb=$root/bench/wan/wanbench.py
proxy=$bdir/proxy/braid-proxy
ctl=$bdir/braidctl/braidctl
export WAN_EMULATOR=${WAN_EMULATOR:-$bdir/bench/wan/braid-link-emulator}
for f in "$proxy" "$ctl" "$WAN_EMULATOR"; do
  [ -x "$f" ] || { echo "run_wan_memory: $f is missing (bench/wan/run_wan_bench.sh builds it)" >&2; exit 1; }
done
# shellcheck source=netns.sh
source "$root/bench/wan/netns.sh"

work=$(mktemp -d /tmp/braid-wanmem.XXXXXX)
cleanup() {
  local rc=$?
  wan_down 2>/dev/null || true
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cd "$work"
"$ctl" pki init pki >/dev/null
for gw in gw-a gw-b; do "$ctl" pki issue pki "$gw" >/dev/null; done
python3 "$wb" policy policy.json
wan_up "m$$" --delay-ms "$delay_ms" --loss "$loss" >/dev/null
python3 "$wb" gateway-config b.json gw-b 0 "$WAN_ADDR_B:4400"
python3 "$wb" gateway-config a.json gw-a 0 127.0.0.1:0 "$WAN_ADDR_B:4400" 127.0.0.1:8100 127.0.0.1:5201
python3 - <<'PY'
import json
for name, port in (("a.json", 9911), ("b.json", 9912)):
    with open(name) as f:
        c = json.load(f)
    c["admin"] = {"listen": f"127.0.0.1:{port}"}
    if "services" in c:  # gw-a: a second service, for the idle flows
        c["services"].append({"name": "idle", "listen": "127.0.0.1:8101", "peer": "gw-b", "target": "127.0.0.1:5300"})
    with open(name, "w") as f:
        json.dump(c, f, indent=1)
PY
ip netns exec "$WAN_NS_B" iperf3 -s -p 5201 >iperf3-s.log 2>&1 &
# The idle flows' destination in B: accepts and holds every connection.
ip netns exec "$WAN_NS_B" python3 -c '
import socket, time
s = socket.create_server(("127.0.0.1", 5300), backlog=4096)
held = []
while True:
    held.append(s.accept()[0])' >holder-b.log 2>&1 &
ip netns exec "$WAN_NS_B" "$proxy" --config b.json >b.log 2>&1 &
pid_b=$!
sleep 0.5
ip netns exec "$WAN_NS_A" "$proxy" --config a.json >a.log 2>&1 &
pid_a=$!
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
deadline=$((SECONDS + 20))
until grep -q "service idle on" a.log && ip netns exec "$WAN_NS_B" ss -ltn | grep -q ':5300 '; do
  ((SECONDS < deadline)) || { echo "run_wan_memory: the gateways or iperf3 did not start" >&2; tail a.log b.log >&2; exit 1; }
  sleep 0.1
done

# The idle flows: connections through the tunnel to the holder in B,
# opened and then left alone.
ip netns exec "$WAN_NS_A" python3 - "$idle" <<'PY' &
import socket, sys, time
socks = []
for _ in range(int(sys.argv[1])):
    socks.append(socket.create_connection(("127.0.0.1", 8101), 10))
print(f"{len(socks)} idle flows open", flush=True)
time.sleep(3600)
PY
holder=$!
deadline=$((SECONDS + 60))
until [ "$(ip netns exec "$WAN_NS_A" ss -tn state established '( dport = :8101 )' | tail -n +2 | wc -l)" -ge "$idle" ]; do
  ((SECONDS < deadline)) || { echo "run_wan_memory: the idle flows did not all open" >&2; exit 1; }
  sleep 0.2
done
sleep 2
echo "idle: $idle flows; VmRSS gw-a $(rss $pid_a) KiB, gw-b $(rss $pid_b) KiB"

ip netns exec "$WAN_NS_A" iperf3 -c 127.0.0.1 -p 8100 -t "$dur" -J >iperf.json &
client=$!
peak_a=0 peak_b=0 window=0
while kill -0 "$client" 2>/dev/null; do
  a=$(rss $pid_a) b=$(rss $pid_b)
  ((a > peak_a)) && peak_a=$a
  ((b > peak_b)) && peak_b=$b
  w=$(ip netns exec "$WAN_NS_B" python3 -c '
import json, urllib.request
flows = json.load(urllib.request.urlopen("http://127.0.0.1:9912/flows", timeout=2))["flows"]
print(max([f["window_bytes"] for f in flows] or [0]))' 2>/dev/null || echo 0)
  ((w > window)) && window=$w
  sleep 0.1
done
wait "$client" || true
gbps=$(python3 -c 'import json,sys; print(round(json.load(open("iperf.json"))["end"]["sum_received"]["bits_per_second"] / 1e9, 2))')
echo "bulk: $gbps Gbit/s over $((2 * delay_ms)) ms RTT, loss $loss; largest receive window $((window >> 20)) MiB"
echo "peak VmRSS while it ran: gw-a $((peak_a / 1024)) MiB, gw-b $((peak_b / 1024)) MiB;" \
  "VmHWM gw-a $(( $(hwm $pid_a) / 1024 )) MiB, gw-b $(( $(hwm $pid_b) / 1024 )) MiB"
kill "$holder" 2>/dev/null || true
