#!/usr/bin/env bash
# netns.sh: two network namespaces, A and B, joined by braid-link-emulator:
# the emulated WAN link of the WAN bench (bench/wan/README.md).
#
#   A: braidwan-a-TAG, 198.18.0.1/30 on TUN bwaTAG  --+
#                                                      | braid-link-emulator
#   B: braidwan-b-TAG, 198.18.0.2/30 on TUN bwbTAG  --+  (root namespace)
#
# The emulator creates both TUN devices in the root namespace, prints
# "ready", and this script moves each into its namespace (the emulator's
# descriptors keep working). The devices are not persistent: they vanish
# when the emulator exits. Addresses are from 198.18.0.0/15 (RFC 2544,
# benchmarking), so nothing here can reach or be reached from a real
# network; both namespaces have only lo and their TUN device.
#
# The tuned host every contestant gets, in both namespaces (these sysctls
# are per namespace, so the host's own are untouched):
#   net.ipv4.tcp_rmem = 4096 4194304 268435456
#   net.ipv4.tcp_wmem = 4096 16384 268435456
#     maxima of 256 MiB so that one TCP connection's autotuned buffers can
#     fill a long fat link (80 ms at several Gbit/s needs tens of MiB); an
#     initial receive buffer of 4 MiB because the link's MTU is 65000: the
#     usual 128 KiB holds about one such segment (it holds 87 at MTU
#     1500), and a connection that starts with small writes, such as a
#     TLS relay's 16 KiB records, can then stay stuck between a zero window
#     and one segment, which autotuning never escapes (stunnel ran at
#     0.02 Gbit/s in some runs, 3 Gbit/s in others); 4 MiB holds about 64;
#   congestion control cubic or bbr (WAN_CC), on every route of the
#     namespace (the link's and loopback's, `ip route ... congctl`): a
#     namespace may set net.ipv4.tcp_congestion_control only to what the
#     host lists in tcp_allowed_congestion_control (here "reno bbr"), while
#     a route's congctl may name any available one. Both ends of every TCP
#     connection, across the link or on loopback, use it;
#   net.core.rmem_max / wmem_max are raised too where the kernel lets a
#     namespace set them (this 6.x kernel does not); they bound only
#     explicit SO_RCVBUF/SO_SNDBUF, which neither iperf3, stunnel nor braid
#     sets, so autotuning is what counts.
#
# As a command:
#   bench/wan/netns.sh run [EMULATOR OPTIONS...] -- COMMAND [ARGS...]
# sets up the link, runs COMMAND with WAN_NS_A, WAN_NS_B, WAN_ADDR_A and
# WAN_ADDR_B exported, then stops the emulator (printing its counters) and
# deletes both namespaces, also on failure or a signal; exits with
# COMMAND's status. EMULATOR OPTIONS are braid-link-emulator's (--delay-ms,
# --loss, --rate-mbit, --per-conn-mbit, ...).
#
# As a library (source it): wan_up TAG [EMULATOR OPTIONS...] and wan_down;
# the caller's EXIT trap must call wan_down. wan_up sets WAN_NS_A, WAN_NS_B,
# WAN_ADDR_A, WAN_ADDR_B, WAN_TUN_A, WAN_TUN_B (the devices' names),
# WAN_EMULATOR_PID and WAN_EMULATOR_LOG.
#
# Environment: WAN_EMULATOR (the braid-link-emulator binary; default
# build-wan/bench/wan/braid-link-emulator), WAN_CC (cubic or bbr; default
# cubic), WAN_MTU (default 65000), WAN_TAG (run: default the shell's pid).
# Needs root, /dev/net/tun and ip netns.

WAN_ADDR_A=198.18.0.1
WAN_ADDR_B=198.18.0.2
_wan_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

_wan_log() { printf '[netns.sh] %s\n' "$*" >&2; }

# wan_up TAG [EMULATOR OPTIONS...]: namespaces, emulator, devices, sysctls.
# Returns non-zero (having undone what it did) on any failure.
wan_up() {
  local tag=$1
  shift
  local emulator=${WAN_EMULATOR:-$_wan_dir/../../build-wan/bench/wan/braid-link-emulator}
  local cc=${WAN_CC:-cubic} mtu=${WAN_MTU:-65000}
  WAN_NS_A=braidwan-a-$tag WAN_NS_B=braidwan-b-$tag
  WAN_TUN_A=bwa$tag WAN_TUN_B=bwb$tag
  WAN_EMULATOR_PID=
  WAN_EMULATOR_LOG=$(mktemp /tmp/braidwan-emulator-"$tag".XXXXXX)
  if ((${#WAN_TUN_A} > 15)); then
    _wan_log "TAG '$tag' is too long for an interface name (at most 12 characters)"; return 1
  fi
  [ -x "$emulator" ] || { _wan_log "no emulator at $emulator (build braid-link-emulator, or set WAN_EMULATOR)"; return 1; }
  ip netns add "$WAN_NS_A" || { _wan_log "ip netns add $WAN_NS_A failed"; return 1; }
  if ! ip netns add "$WAN_NS_B"; then
    _wan_log "ip netns add $WAN_NS_B failed"; wan_down; return 1
  fi
  "$emulator" --tun-a "$WAN_TUN_A" --tun-b "$WAN_TUN_B" --mtu "$mtu" "$@" >"$WAN_EMULATOR_LOG" 2>&1 &
  WAN_EMULATOR_PID=$!
  local deadline=$((SECONDS + 10))
  until grep -q '^ready' "$WAN_EMULATOR_LOG"; do
    if ! kill -0 "$WAN_EMULATOR_PID" 2>/dev/null || ((SECONDS >= deadline)); then
      _wan_log "the emulator did not start:"; cat "$WAN_EMULATOR_LOG" >&2; wan_down; return 1
    fi
    sleep 0.02
  done
  local side ns tun addr
  for side in a b; do
    if [ $side = a ]; then ns=$WAN_NS_A tun=$WAN_TUN_A addr=$WAN_ADDR_A; else ns=$WAN_NS_B tun=$WAN_TUN_B addr=$WAN_ADDR_B; fi
    if ! { ip link set "$tun" netns "$ns" &&
           ip -n "$ns" link set lo up &&
           ip -n "$ns" addr add "$addr/30" dev "$tun" &&
           ip -n "$ns" link set "$tun" up &&
           ip -n "$ns" route replace 198.18.0.0/30 dev "$tun" proto kernel scope link src "$addr" congctl "$cc" &&
           ip -n "$ns" route replace local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 congctl "$cc" &&
           ip -n "$ns" route replace local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 congctl "$cc" &&
           ip netns exec "$ns" sysctl -q -w net.ipv4.tcp_rmem="4096 4194304 268435456" \
             net.ipv4.tcp_wmem="4096 16384 268435456"; }; then
      _wan_log "setting up $tun in $ns failed"; wan_down; return 1
    fi
    ip netns exec "$ns" sysctl -q -w net.ipv4.tcp_congestion_control="$cc" 2>/dev/null || true
    ip netns exec "$ns" sysctl -q -w net.core.rmem_max=268435456 net.core.wmem_max=268435456 2>/dev/null || true
  done
}

# wan_down: stops the emulator (its counters go to the log, then stderr),
# ends what still runs in the two namespaces, deletes them. Safe to call
# twice, or after a wan_up that failed half way.
wan_down() {
  local ns pid
  if [ -n "${WAN_EMULATOR_PID:-}" ]; then
    kill -TERM "$WAN_EMULATOR_PID" 2>/dev/null || true
    local deadline=$((SECONDS + 5))
    while kill -0 "$WAN_EMULATOR_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
    kill -KILL "$WAN_EMULATOR_PID" 2>/dev/null || true
    wait "$WAN_EMULATOR_PID" 2>/dev/null || true
    grep -E '^[ab]->[ab]:' "$WAN_EMULATOR_LOG" >&2 || true
    WAN_EMULATOR_PID=
  fi
  for ns in ${WAN_NS_A:-} ${WAN_NS_B:-}; do
    [ -e "/run/netns/$ns" ] || continue
    # Only processes inside our own namespaces: ours by construction.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || _wan_log "could not delete namespace $ns"
  done
  [ -n "${WAN_EMULATOR_LOG:-}" ] && rm -f "$WAN_EMULATOR_LOG"
  WAN_NS_A='' WAN_NS_B='' WAN_EMULATOR_LOG=''
}

_wan_main() {
  if [ "${1:-}" != run ]; then
    sed -n '/^# As a command/,/^# Needs root/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    return 2
  fi
  shift
  local opts=()
  while (($#)) && [ "$1" != -- ]; do opts+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
  (($#)) || { _wan_log "no COMMAND after --"; return 2; }
  _wan_cmd_pid=
  trap '[ -n "$_wan_cmd_pid" ] && kill "$_wan_cmd_pid" 2>/dev/null; wan_down' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  wan_up "${WAN_TAG:-$$}" "${opts[@]}" || return 1
  export WAN_NS_A WAN_NS_B WAN_ADDR_A WAN_ADDR_B
  # In the background and waited for, so that a signal to this script is
  # handled at once (bash runs traps only between foreground commands).
  "$@" &
  _wan_cmd_pid=$!
  local rc=0
  wait "$_wan_cmd_pid" || rc=$?
  _wan_cmd_pid=
  return $rc
}

# Run as a command, not when sourced.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  _wan_main "$@"
  exit $?
fi
