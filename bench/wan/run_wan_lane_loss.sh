#!/usr/bin/env bash
# What lane losses cost one flow (issue 15): a braid gateway pair with its
# defaults across the emulated WAN link (bench/wan/netns.sh), one flow of
# BYTES from namespace A to B (tests/bench/wan/gateway_wan_transfer.py),
# with no kill and with KILLS lanes killed during the transfer (gw-b's
# admin endpoint, the flow's control lane first), interleaved, REPS times
# each. Prints each run (the time until every byte had arrived, within the
# script's 0.1-0.2 s of polling, and the rate it gives; the kills made,
# gw-b's lanes lost and frames resent; whether the
# SHA-256 of what arrived matched) and the median rate of each kind. With
# ACTION=retire the lanes are retired (make-before-break) instead of
# killed. It writes nothing: the figures go to bench/RESULTS.md by hand.
#
# Usage: bench/wan/run_wan_lane_loss.sh
# Environment: BYTES (default 1 GiB), KILLS (default 6), ACTION (kill or
# retire, default kill), REPS (default 3),
# DELAY_MS (one way, default 20), BUILD (default build-wan; its braid-proxy,
# braidctl and braid-link-emulator are used as they are, build them first).
# Needs root, /dev/net/tun, ip netns and python3; everything it starts is
# stopped, and its namespaces deleted, on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bdir=$root/${BUILD:-build-wan}
bytes=${BYTES:-1073741824}
kills=${KILLS:-6}
action=${ACTION:-kill}
reps=${REPS:-3}
delay=${DELAY_MS:-20}
for bin in proxy/braid-proxy braidctl/braidctl bench/wan/braid-link-emulator; do
  [ -x "$bdir/$bin" ] || { echo "run_wan_lane_loss: $bdir/$bin is missing: build it first" >&2; exit 1; }
done

results=()
for ((rep = 1; rep <= reps; rep++)); do
  for k in 0 "$kills"; do
    out=$(WAN_EMULATOR=$bdir/bench/wan/braid-link-emulator WAN_TAG=ll$$ timeout -k 5 300 \
      "$root/bench/wan/netns.sh" run --delay-ms "$delay" -- python3 "$root/tests/bench/wan/gateway_wan_transfer.py" \
      "$bdir/proxy/braid-proxy" "$bdir/braidctl/braidctl" "$root/bench/wan/wanbench.py" "$bytes" "$k" "$action" 2>&1) || true
    line=$(grep '^result ' <<<"$out" | head -1 | cut -c8-)
    if [ -z "$line" ]; then
      echo "run $rep, $k ${action}s: no result" >&2
      tail -20 <<<"$out" >&2
      continue
    fi
    row=$(python3 -c '
import json, sys
r = json.loads(sys.argv[1])
seconds = r["transfer_s"]
gbit = r["received"]["bytes"] * 8 / seconds / 1e9
ok = r["received"]["sha256"] == r["sent"]["sha256"] and r["received"]["bytes"] == r["sent"]["bytes"]
made, lost, resent = r.get("kills", 0), r.get("lanes_lost_b", 0), r.get("frames_resent_b", 0)
retired = r.get("lanes_retired_b", 0)
duration = round(seconds * 1000)
verdict = "yes" if ok else "NO"
print(f"{sys.argv[2]} {sys.argv[3]} {duration} {gbit:.2f} {made} {lost:.0f} {retired:.0f} {resent:.0f} {verdict}")
' "$line" "$rep" "$k")
    echo "$row"
    results+=("$row")
  done
done

echo
echo "action=$action"
echo "rep asked duration_ms gbit_s made lanes_lost_b lanes_retired_b frames_resent_b sha256_ok"
printf '%s\n' "${results[@]}"
python3 - "$kills" "$action" "${results[@]}" <<'EOF'
import statistics, sys
kills, action = sys.argv[1], sys.argv[2]
rows = [r.split() for r in sys.argv[3:]]
for k in ("0", kills):
    rates = [float(r[3]) for r in rows if r[1] == k]
    if rates:
        print(f"{k} {action}s: median {statistics.median(rates):.2f} Gbit/s over {len(rates)} runs")
EOF
