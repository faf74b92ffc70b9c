#!/usr/bin/env python3
"""Writes the WAN section of bench/RESULTS.md from the raw outputs of
bench/wan/run_wan_bench.sh.

Usage: render.py OUTDIR RESULTS_MD [SECTION]   (RESULTS_MD "-" prints it)

Only the text between the SECTION's markers (default WAN) is replaced;
everything else in RESULTS_MD is kept. When the markers are missing, a
heading, the markers and a placeholder for hand-written notes are appended
at the end of the file.
"""
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wanbench import parse_scenario  # noqa: E402

LABELS = {"direct": "direct", "stunnel": "stunnel", "braid-l0": "braid, lanes = 0"}
OWN_CPU = 0.8        # the bench's own processes using this share of all cores: CPU-bound
BUSY_CPU = 0.95      # the machine this busy (other load included) and the bench's own
SHARED_CPU = 0.5     #   processes using at least this share of it: CPU-bound too
NEAR_CEILING = 0.85  # a figure this close to the emulator's ceiling is limited by it
NEAR_CAP = (0.7, 1.15)  # ... and between these shares of the policers' sum, by them


def label(setup):
    return LABELS.get(setup, setup.replace("braid-l", "braid, lanes = "))


def read_lines(outdir, name):
    path = os.path.join(outdir, name)
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def machine(outdir):
    return dict(line.split("=", 1) for line in read_lines(outdir, "machine.txt") if "=" in line)


def runs(outdir):
    """{(scenario, setup): [(gbps, cpu dict), ...]}, failed runs left out.
    The cpu dict holds the machine's busy share, each process's cores
    ("client" from iperf3's own report) and the sender's retransmits."""
    by = {}
    for line in read_lines(outdir, "throughput.tsv"):
        scenario, setup, _rep, gbps, retr, client, cpu = line.split("\t", 6)
        if gbps == "fail":
            continue
        facts = json.loads(cpu or "{}")
        facts.update(client=float(client), retransmits=int(retr))
        by.setdefault((scenario, setup), []).append((float(gbps), facts))
    return by


def own_cores(facts):
    """Cores used by the bench's own processes in one run."""
    return sum(facts.get(k, 0) for k in ("client", "iperf3-s", "emulator", "relay-a", "relay-b"))


def med(xs):
    return statistics.median(xs) if xs else None


def fmt(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}"


def link_counters(outdir, scenario):
    """The emulator's counters for the scenario: {"a->b": {name: value}, ...}."""
    result = {}
    for line in read_lines(outdir, f"link-{scenario}.txt"):
        direction, _, rest = line.partition(": ")
        if direction in ("a->b", "b->a"):
            result[direction] = {k: int(v) for k, v in (kv.split("=") for kv in rest.split())}
    return result


def limit(setup, gbps, busy, own, nproc, link, ceiling, lanes, retransmits, drops):
    """What limits one figure, as far as the run's own evidence shows.
    drops: the scenario's drops by cause (policer, and the emulator's own:
    its TUN queue and its packet memory)."""
    reasons = []
    if ceiling and gbps >= NEAR_CEILING * ceiling:
        reasons.append("emulator ceiling")
    connections = lanes if setup.startswith("braid") else 1
    cap = link["cap_mbit"] / 1000
    if cap and connections and NEAR_CAP[0] * cap * connections <= gbps <= NEAR_CAP[1] * cap * connections:
        reasons.append(f"policer ({connections} x {cap:g} Gbit/s)")
    if own is not None and own >= OWN_CPU * nproc:
        reasons.append(f"CPU (the bench's processes: {own:.1f} of {nproc} cores)")
    elif own is not None and busy is not None and busy >= BUSY_CPU and own >= SHARED_CPU * nproc:
        reasons.append(f"CPU, shared with other load (machine {busy:.0%} busy, the bench's processes "
                       f"{own:.1f} cores)")
    if reasons:
        return "; ".join(reasons)
    if link["loss_pct"] or drops["policer"]:
        return "TCP's response to loss" if link["loss_pct"] else "TCP's response to the policer's drops"
    emulator_drops = drops["tun"] + drops["memory"]
    if setup == "direct" and retransmits and emulator_drops:
        # Nothing else drops on this path: the emulator fell behind bursts.
        return f"the emulator's drops in bursts ({retransmits:.0f} retransmits)"
    # No loss, no policer, CPU to spare: what is left is a window, TCP's or
    # (through braid) the tunnel's flow control. What it held:
    in_flight = gbps * 1e9 / 8 * link["rtt_ms"] / 1e3 / 2**20
    if emulator_drops:
        return f"a window ({in_flight:.1f} MiB in flight), or the emulator's drops in bursts"
    return f"a window: {in_flight:.1f} MiB in flight (CPU to spare)"


def render(outdir, section):
    m = machine(outdir)
    by = runs(outdir)
    setups = m.get("setups", "").split()
    scenarios = []
    for scenario, _setup in by:
        if scenario != "ceiling" and scenario not in scenarios:
            scenarios.append(scenario)
    lanes = {}  # (scenario, setup) -> lanes per tunnel, from gw-a's log
    rss = {}    # (scenario, setup) -> (gw-a, gw-b) peak KiB
    for line in read_lines(outdir, "gateways.tsv"):
        scenario, setup, hwm_a, hwm_b, n = line.split("\t")
        lanes[(scenario, setup)] = int(n or 0)
        rss[(scenario, setup)] = (int(hwm_a or 0), int(hwm_b or 0))
    tun_drops = {}
    for line in read_lines(outdir, "tun-drops.tsv"):
        scenario, side, drops = line.split("\t")
        tun_drops[(scenario, side)] = drops
    ceiling_runs = [g for g, _ in by.get(("ceiling", "direct"), [])]
    ceiling = med(ceiling_runs)
    nproc = int(m.get("nproc", "1"))

    out = []
    w = out.append
    w("## Machine and run\n")
    w("| | |")
    w("| --- | --- |")
    w(f"| CPU | {m.get('cpu', '?')}, `nproc` = {m.get('nproc', '?')} |")
    w(f"| kernel | {m.get('kernel', '?')} |")
    w(f"| date | {m.get('date', '?')} |")
    w(f"| load average at start / end | {m.get('load_start', '?')} / {m.get('load_end', '?')} |")
    w(f"| braid-proxy | {m.get('build_type', '?')} build, {m.get('compiler', '?')}; source: {m.get('tree', '?')} |")
    w(f"| iperf3 | {m.get('iperf3', '?')} |")
    w(f"| stunnel | {m.get('stunnel', '?')} |")
    reps = m.get("reps", "?")
    w(f"| runs | one iperf3 flow A -> B, `-t {m.get('duration', '?')}`, {reps} repetition{'' if reps == '1' else 's'}"
      " of each, interleaved (every setup once, then again), medians shown |")
    rate = m.get("rate_mbit", "0")
    w(f"| link | braid-link-emulator between two namespaces, MTU {m.get('mtu', '?')}, link rate "
      f"{'unlimited' if rate in ('0', '') else rate + ' Mbit/s'}; both hosts: tcp_rmem/tcp_wmem max 256 MiB, "
      "initial tcp_rmem 4 MiB (bench/wan/netns.sh) |")
    extra = m.get("tunnel_extra", "")
    w(f"| braid tunnel settings | {'defaults' if not extra else '`' + extra + '` added to `tunnel`'} |")
    if ceiling is not None:
        w(f"| emulator ceiling | {fmt(ceiling)} Gbit/s ({fmt(min(ceiling_runs))}-{fmt(max(ceiling_runs))}): "
          "direct, one flow, zero delay, no loss |")
    w("")

    w(f"### Throughput (Gbit/s received, median of {m.get('reps', '?')})\n")
    w("RTT is the emulated round trip (half of it each way); loss is per packet, each way; cap is a policer "
      "per TCP connection (each braid lane is a connection of its own).\n")
    w("| scenario | RTT | loss | cap | cc | " + " | ".join(label(s) for s in setups) + " |")
    w("| --- | ---: | ---: | ---: | --- | " + " | ".join("---:" for _ in setups) + " |")
    for scenario in scenarios:
        link = parse_scenario(scenario)
        cells = [fmt(med([g for g, _ in by.get((scenario, s), [])])) for s in setups]
        cap = f"{link['cap_mbit'] / 1000:g} Gbit/s" if link["cap_mbit"] else "-"
        w(f"| {scenario} | {link['rtt_ms']:g} ms | {link['loss_pct']:g}% | {cap} | {link['cc']} | "
          + " | ".join(cells) + " |")
    w("")

    w("### Each figure: ratios, CPU, and what limits it\n")
    w("Machine busy: share of all cores in use during the run, other load included (/proc/stat). Bench "
      "cores: CPU time over wall time of the bench's own processes (iperf3 client and server, emulator, both "
      "relays); relay cores: the two relays (stunnel's or braid's, A + B); emulator: its two threads. "
      f"Limited by: the emulator ceiling within {1 - NEAR_CEILING:.0%} of it; the policers between "
      f"{NEAR_CAP[0]:.0%} and {NEAR_CAP[1]:.0%} of their sum (one per TCP connection); CPU when the bench's "
      f"processes used {OWN_CPU:.0%} of all cores, or {SHARED_CPU:.0%} of them on a machine over "
      f"{BUSY_CPU:.0%} busy; else, with loss or policer drops, TCP's response to them; else, for direct with "
      "retransmits, the emulator's own drops; else a window (TCP's, or braid's flow control), with what it "
      "held in flight (Gbit/s x RTT).\n")
    w("| scenario | setup | Gbit/s (min-max) | / direct | / stunnel | machine busy | bench cores | relay cores | "
      "emulator cores | limited by |")
    w("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for scenario in scenarios:
        link = parse_scenario(scenario)
        direct = med([g for g, _ in by.get((scenario, "direct"), [])])
        stunnel = med([g for g, _ in by.get((scenario, "stunnel"), [])])
        for setup in setups:
            rs = by.get((scenario, setup), [])
            if not rs:
                w(f"| {scenario} | {label(setup)} | failed | | | | | | | |")
                continue
            gs = [g for g, _ in rs]
            g = med(gs)
            busy = med([c["busy"] for _, c in rs if "busy" in c])
            own = med([own_cores(c) for _, c in rs])
            relay = med([c["relay-a"] + c["relay-b"] for _, c in rs if "relay-a" in c and "relay-b" in c])
            emu = med([c["emulator"] for _, c in rs if "emulator" in c])
            ratio_d = f"{g / direct:.2f}x" if direct and setup != "direct" else ""
            ratio_s = f"{g / stunnel:.2f}x" if stunnel and setup not in ("direct", "stunnel") else ""
            ab = link_counters(outdir, scenario).get("a->b", {})
            drops = {"policer": ab.get("dropped_policer", 0), "memory": ab.get("dropped_no_buffer", 0),
                     "tun": int(tun_drops.get((scenario, "a"), 0))}
            retransmits = med([c["retransmits"] for _, c in rs])
            why = limit(setup, g, busy, own, nproc, link, ceiling, lanes.get((scenario, setup), 1), retransmits, drops)
            w(f"| {scenario} | {label(setup)} | {fmt(g)} ({fmt(min(gs))}-{fmt(max(gs))}) | {ratio_d} | {ratio_s} | "
              f"{'-' if busy is None else f'{busy:.0%}'} | {fmt(own, 1)} | {fmt(relay)} | {fmt(emu)} | {why} |")
    w("")

    braid = [s for s in setups if s.startswith("braid")]
    w("### The link and the gateways, per scenario\n")
    w("Drops on the way A -> B over the whole scenario (warm-up included): by the emulator's model (random "
      "loss, policer, link queue, packet memory full) and in the TUN device's own queue before the emulator "
      "read them (the emulator falling behind). Direct retransmits: the median of the direct runs' TCP "
      "retransmits (the relays' own connections across the link are not seen by iperf3). Gateways: peak "
      "resident memory (VmHWM) of gw-a / gw-b in MiB over the scenario, and lanes per tunnel.\n")
    w("| scenario | loss | policer | queue | no memory | TUN queue | direct retransmits | "
      + " | ".join(label(s) for s in braid) + " |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | " + " | ".join("---" for _ in braid) + " |")
    for scenario in scenarios:
        ab = link_counters(outdir, scenario).get("a->b", {})
        cells = []
        for setup in braid:
            a, b = rss.get((scenario, setup), (0, 0))
            n = lanes.get((scenario, setup), "?")
            cells.append(f"{a / 1024:.0f} / {b / 1024:.0f} ({n} lane{'' if n == 1 else 's'})")
        retr = med([c["retransmits"] for _, c in by.get((scenario, "direct"), [])])
        w(f"| {scenario} | {ab.get('dropped_loss', '-')} | {ab.get('dropped_policer', '-')} | "
          f"{ab.get('dropped_queue_full', '-')} | {ab.get('dropped_no_buffer', '-')} | "
          f"{tun_drops.get((scenario, 'a'), '-')} | {fmt(retr, 0)} | " + " | ".join(cells) + " |")
    w("")
    return "\n".join(out) + "\n"


def markers(section):
    return (f"<!-- BEGIN {section} GENERATED by bench/wan/run_wan_bench.sh: do not edit by hand -->",
            f"<!-- END {section} GENERATED -->")


def skeleton(section):
    begin, end = markers(section)
    return f"""
# {section} benchmark results

Produced by `bench/wan/run_wan_bench.sh` (bench/wan/README.md). The tables
between the markers are regenerated on every run; the notes after them are
written by hand.

{begin}
{end}
## Reading the {section} figures

(to be written after a run)
"""


def write_section(path, section_name, body):
    """Puts body between the section's markers in the file at path."""
    begin, end = markers(section_name)
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    if begin not in text or end not in text:
        text = text.rstrip("\n") + "\n" + skeleton(section_name)
    start = text.index(begin) + len(begin)
    stop = text.index(end, start)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text[:start] + "\n" + body + text[stop:])


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.stderr.write(__doc__)
        sys.exit(2)
    name = sys.argv[3] if len(sys.argv) == 4 else "WAN"
    rendered = render(sys.argv[1], name)
    if sys.argv[2] == "-":
        sys.stdout.write(rendered)
    else:
        write_section(sys.argv[2], name, rendered)
