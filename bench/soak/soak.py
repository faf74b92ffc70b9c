#!/usr/bin/env python3
"""Sampling and the report of bench/soak/run_soak.sh.

  soak.py sample OUT INTERVAL UNTIL_FILE LABEL:PID:ADMIN_PORT...
      every INTERVAL seconds, until the file UNTIL_FILE exists, append one
      line per sample to OUT (TSV): seconds since start, then for each
      gateway its VmRSS (KiB), open descriptors and live flows (from its
      admin endpoint's braid_flows_live; -1 if unreadable), then the load
      average
  soak.py live LABEL:PID:ADMIN_PORT...
      print the sum of the gateways' live flows (unreadable counts as 0)
  soak.py render DIR RESULTS.md|-
      judge DIR/samples.tsv (and DIR/idle.tsv, DIR/mix.txt, DIR/counts.tsv,
      DIR/machine.txt, the gateways' logs) and write the Soak section of
      RESULTS.md between its markers ("-" prints it)

Flat means (see the section this writes):
  - memory: no upward trend once warm. The first tenth of the run is the
    warm-up (heaps grow to the working set of the mix); after it, the
    highest VmRSS of the last third may exceed the highest of the middle
    third by at most 5% (or 4 MiB, whichever is larger). A leak keeps
    setting new highs; a working set that is merely noisy does not.
  - descriptors: with no flow left, each gateway holds exactly as many as
    it did with no flow at the start (after the tunnel was up), and while
    the mix runs never more than that plus two per live flow (a flow holds
    one socket, to its host or its target) plus IN_TRANSIT (8) for connections
    between accept and flow, or closed and not yet counted (the descriptors
    and the gauge are not read at the same instant).
"""
import json
import os
import re
import socket
import sys
import time

IN_TRANSIT = 8  # see the docstring: kInTransit


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def flows_live(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        s.close()
        m = re.search(rb"^braid_flows_live (\d+)", data, re.M)
        return int(m.group(1)) if m else -1
    except OSError:
        return -1


def sample(out, interval, until, specs):
    gws = [s.split(":") for s in specs]
    t0 = time.monotonic()
    with open(out, "a") as f:
        f.write("t\t" + "\t".join(f"{l}_rss_kib\t{l}_fds\t{l}_flows" for l, _, _ in gws) + "\tload1\n")
        while True:
            row = [f"{time.monotonic() - t0:.0f}"]
            for _, pid, port in gws:
                try:
                    row += [str(rss_kib(pid)), str(fds(pid)), str(flows_live(int(port)))]
                except OSError:
                    row += ["-1", "-1", "-1"]
            with open("/proc/loadavg") as la:
                row.append(la.read().split()[0])
            f.write("\t".join(row) + "\n")
            f.flush()
            if os.path.exists(until):
                return
            deadline = time.monotonic() + interval
            while time.monotonic() < deadline and not os.path.exists(until):
                time.sleep(0.2)


def read_tsv(path):
    with open(path) as f:
        lines = [l.rstrip("\n").split("\t") for l in f if l.strip()]
    head, rows = lines[0], lines[1:]
    return [dict(zip(head, r)) for r in rows]


def kv(path):
    out = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    out[k] = v
    return out


def judge(rows, idle, labels):
    """Returns (lines of verdicts, ok)."""
    n = len(rows)
    warm = max(1, n // 10)
    rest = rows[warm:]
    third = max(1, len(rest) // 3)
    middle, last = rest[third:2 * third], rest[2 * third:]
    verdicts, ok = [], True
    for l in labels:
        mid_max = max(int(r[f"{l}_rss_kib"]) for r in middle) if middle else 0
        last_max = max(int(r[f"{l}_rss_kib"]) for r in last) if last else 0
        allowed = max(mid_max * 0.05, 4096)
        flat = last_max - mid_max <= allowed
        ok &= flat
        verdicts.append(f"{l} memory: highest {mid_max / 1024:.1f} MiB in the middle third, "
                        f"{last_max / 1024:.1f} MiB in the last third (allowed +{allowed / 1024:.1f} MiB): "
                        f"{'flat' if flat else 'GROWING'}")
        start_fds, end_fds = int(idle[0][f"{l}_fds"]), int(idle[-1][f"{l}_fds"])
        worst = max(int(r[f"{l}_fds"]) - 2 * max(int(r[f"{l}_flows"]), 0) for r in rows)
        fd_ok = end_fds == start_fds and worst <= start_fds + IN_TRANSIT
        ok &= fd_ok
        verdicts.append(f"{l} descriptors: {start_fds} idle at the start, {end_fds} idle at the end, at most "
                        f"{worst} beyond two per live flow while the mix ran: {'flat' if fd_ok else 'LEAKING'}")
    return verdicts, ok


def render(d, results):
    rows = read_tsv(os.path.join(d, "samples.tsv"))
    idle = read_tsv(os.path.join(d, "idle.tsv"))
    labels = [k[:-len("_rss_kib")] for k in rows[0] if k.endswith("_rss_kib")]
    m = kv(os.path.join(d, "machine.txt"))
    mix = open(os.path.join(d, "mix.txt")).read().strip()
    counts = read_tsv(os.path.join(d, "counts.tsv"))
    verdicts, ok = judge(rows, idle, labels)

    ends = {}
    for l in labels:
        path = os.path.join(d, f"{l}.log")
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                for line in f:
                    mm = re.search(r" end=(\w+)", line)
                    if mm:
                        ends.setdefault(l, {}).setdefault(mm.group(1), 0)
                        ends[l][mm.group(1)] += 1

    out = []
    out.append("<!-- BEGIN SOAK GENERATED by bench/soak/run_soak.sh: do not edit by hand -->")
    out.append("## Soak")
    out.append("")
    out.append(f"`bench/soak/run_soak.sh`: a gateway pair carrying a mixed load for a set time "
               f"(30 minutes by default, `DURATION` seconds), both gateways' memory and descriptors "
               f"sampled every {m.get('interval', '?')} s. This run: **{int(m.get('duration', 0)) // 60} minutes**"
               f"{' (shorter than the default)' if int(m.get('duration', 0)) < 1800 else ''}.")
    out.append("")
    out.append(f"Machine: {m.get('nproc', '?')} cores ({m.get('cpu', '?')}), kernel {m.get('kernel', '?')}, "
               f"shared with other work (load average {m.get('load_start', '?')} at the start, "
               f"{m.get('load_end', '?')} at the end); {m.get('build', '?')} build of {m.get('tree', '?')}; "
               f"{m.get('date', '?')}.")
    out.append("")
    out.append("The mix, all at once for the whole run, through one tunnel of "
               f"{m.get('lanes', '?')} lanes:")
    out.append("")
    out.append(mix)
    out.append("")
    out.append("| load | runs | failed | what one run is |")
    out.append("| --- | --- | --- | --- |")
    for c in counts:
        out.append(f"| {c['load']} | {c['runs']} | {c['failed']} | {c['unit']} |")
    out.append("")
    out.append("Flows ended, from the access lines: " + "; ".join(
        f"{l}: " + ", ".join(f"{k} {v}" for k, v in sorted(e.items())) for l, e in sorted(ends.items())) + ".")
    out.append("")
    n = len(rows)
    picks = [("start (first sample)", 0), ("end of warm-up (10%)", max(1, n // 10)), ("25%", n // 4),
             ("middle", n // 2), ("75%", 3 * n // 4), ("end (as the mix stopped)", n - 1)]
    head = "| when | t (s) | " + " | ".join(f"{l} RSS (MiB) | {l} fds | {l} live flows" for l in labels) + " | load |"
    out.append(head)
    out.append("|" + " --- |" * (2 + 3 * len(labels) + 1))
    for name, i in picks:
        r = rows[min(i, n - 1)]
        out.append(f"| {name} | {r['t']} | " + " | ".join(
            f"{int(r[f'{l}_rss_kib']) / 1024:.1f} | {r[f'{l}_fds']} | {r[f'{l}_flows']}" for l in labels) +
            f" | {r['load1']} |")
    for name, r in (("idle, before the mix", idle[0]), ("idle, after the mix", idle[-1])):
        out.append(f"| {name} | - | " + " | ".join(
            f"{int(r[f'{l}_rss_kib']) / 1024:.1f} | {r[f'{l}_fds']} | {r[f'{l}_flows']}" for l in labels) +
            f" | {r['load1']} |")
    out.append("")
    lo_hi = "; ".join(
        f"{l} RSS {min(int(r[f'{l}_rss_kib']) for r in rows) / 1024:.1f}-"
        f"{max(int(r[f'{l}_rss_kib']) for r in rows) / 1024:.1f} MiB, fds "
        f"{min(int(r[f'{l}_fds']) for r in rows)}-{max(int(r[f'{l}_fds']) for r in rows)}" for l in labels)
    out.append(f"Over all {n} samples: {lo_hi}.")
    out.append("")
    out.append("Verdict (the criteria are in `bench/soak/soak.py`):")
    out.append("")
    for v in verdicts:
        out.append(f"- {v}")
    out.append(f"- **{'flat: no growth of memory or descriptors' if ok else 'NOT FLAT'}**")
    out.append("<!-- END SOAK GENERATED -->")
    section = "\n".join(out) + "\n"

    if results == "-":
        sys.stdout.write(section)
        return 0 if ok else 1
    text = open(results).read()
    begin = text.find("<!-- BEGIN SOAK GENERATED")
    end_marker = "<!-- END SOAK GENERATED -->\n"
    end = text.find(end_marker)
    if begin >= 0 and end >= 0:
        text = text[:begin] + section + text[end + len(end_marker):]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(results, "w") as f:
        f.write(text)
    return 0 if ok else 1


def main(argv):
    if len(argv) >= 5 and argv[1] == "sample":
        sample(argv[2], float(argv[3]), argv[4], argv[5:])
        return 0
    if len(argv) >= 3 and argv[1] == "live":
        print(sum(max(flows_live(int(s.split(":")[2])), 0) for s in argv[2:]))
        return 0
    if len(argv) == 4 and argv[1] == "render":
        return render(argv[2], argv[3])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
