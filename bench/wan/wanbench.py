#!/usr/bin/env python3
"""Helpers of bench/wan/run_wan_bench.sh.

  wanbench.py scenario NAME        the link of scenario NAME as shell
                                   assignments (delay_ms, loss, cap_mbit,
                                   rate_mbit, cc)
  wanbench.py gateway-config OUT NAME LANES TUNNEL_LISTEN [PEER_ADDR SERVICE_LISTEN TARGET]
                                   a braid gateway config (gw-a with a peer
                                   gw-b and a service "iperf"; gw-b with
                                   neither), with $BRAID_TUNNEL_EXTRA merged
                                   into its "tunnel" object
  wanbench.py cpu UNTILPID LABEL:PID...
                                   from now until process UNTILPID exits:
                                   how busy the whole machine was (0-1, from
                                   /proc/stat) and the cores each process
                                   used (CPU seconds / wall seconds), as JSON
  wanbench.py iperf FILE           "Gbit/s retransmits client-cores" of an
                                   iperf3 -J file
  wanbench.py policy OUT           the bench's SFT (gw-a's hosts to gw-b's
                                   loopback)
  wanbench.py machine SOURCE_DIR [KEY=VALUE...]
                                   the machine, tool versions and the tree
                                   braid was built from as KEY=VALUE lines,
                                   then the arguments

Scenario names: rtt<ms>[-loss<percent>][-cap<Mbit/s>][-rate<Mbit/s>][-cubic|-bbr],
e.g. rtt20-loss0.01 (20 ms round trip, 0.01% loss each way),
rtt10-cap1000-bbr (a 1 Gbit/s policer on each TCP connection, BBR).
"""
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "gateway"))
import netbench  # noqa: E402  (the gateway bench's helpers: process CPU ticks, iperf3 files)

SCENARIO = re.compile(r"rtt(?P<rtt>\d+(\.\d+)?)(-loss(?P<loss>\d+(\.\d+)?))?(-cap(?P<cap>\d+))?"
                      r"(-rate(?P<rate>\d+))?(-(?P<cc>cubic|bbr))?")


def parse_scenario(name):
    """The link of scenario NAME as a dict: rtt_ms, loss_pct, cap_mbit,
    rate_mbit, cc."""
    m = SCENARIO.fullmatch(name)
    if not m:
        raise SystemExit(f"wanbench: bad scenario name '{name}' (expected e.g. rtt20, rtt20-loss0.1, "
                         "rtt10-cap1000, rtt40-bbr)")
    return {"rtt_ms": float(m["rtt"]), "loss_pct": float(m["loss"] or 0), "cap_mbit": int(m["cap"] or 0),
            "rate_mbit": int(m["rate"] or 0), "cc": m["cc"] or "cubic"}


def scenario(name):
    s = parse_scenario(name)
    print(f"delay_ms={s['rtt_ms'] / 2:g} loss={s['loss_pct'] / 100:g} cap_mbit={s['cap_mbit']} "
          f"rate_mbit={s['rate_mbit']} cc={s['cc']}")


def tunnel_extra():
    """$BRAID_TUNNEL_EXTRA: members for the tunnel object, with or without
    the braces, e.g. '"flow_window_max_bytes": 268435456'."""
    text = os.environ.get("BRAID_TUNNEL_EXTRA", "").strip()
    if not text:
        return {}
    try:
        return json.loads(text if text.startswith("{") else "{" + text + "}")
    except json.JSONDecodeError as e:
        raise SystemExit(f"wanbench: BRAID_TUNNEL_EXTRA is not JSON object members: {e}")


def gateway_config(out, name, lanes, listen, peer_addr=None, service_listen=None, target=None):
    tunnel = {"listen": listen, "lanes": int(lanes), "idle_timeout": "600s"}
    tunnel.update(tunnel_extra())
    config = {
        "name": name,
        "identity": {"cert": f"pki/{name}.crt", "key": f"pki/{name}.key", "ca": "pki/ca.crt"},
        "tunnel": tunnel,
        "policy": {"file": "policy.json"},
        "limits": {"max_flows": 100000, "max_flows_per_source": 100000},
        "log": {"level": "info"},
    }
    if peer_addr:
        config["peers"] = [{"name": "gw-b", "address": peer_addr}]
        config["services"] = [{"name": "iperf", "listen": service_listen, "peer": "gw-b", "target": target}]
    with open(out, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=1)


def policy(out):
    """The SFT: the host in A reaches gw-a from 127.0.0.1; gw-b connects to
    iperf3 on B's own loopback."""
    rule = {"id": "bench", "action": "permit", "proto": "tcp", "src": ["127.0.0.0/8"], "dst": ["127.0.0.1"],
            "src_gateway": ["gw-a"], "dst_gateway": ["gw-b"]}
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"name": "wanbench", "default": "deny", "rules": [rule]}, f, indent=1)


def _first_line(cmd):
    try:
        text = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
        return text.splitlines()[0].strip() if text else "?"
    except OSError:
        return "?"


def machine(args):
    """The machine, the tools' versions and the tree braid was built from
    (the first argument: its source directory), as KEY=VALUE lines, then
    the caller's own KEY=VALUE arguments."""
    source, extra = args[0], args[1:]
    with open("/proc/cpuinfo") as f:
        cpu_model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    stunnel = subprocess.run(["stunnel4", "-version"], capture_output=True, text=True, check=False).stderr
    stunnel_version = next((line.split()[1] for line in stunnel.splitlines() if line.startswith("stunnel")), "?")
    stunnel_tls = next((line.replace("Running  with", "").strip() for line in stunnel.splitlines()
                        if line.startswith("Running")), "?")
    git = ["git", "-C", source]
    changed = subprocess.run(git + ["status", "--porcelain"], capture_output=True, text=True, check=False).stdout
    commit = _first_line(git + ["rev-parse", "--short", "HEAD"])
    facts = {
        "nproc": os.cpu_count(), "cpu": cpu_model, "kernel": os.uname().release,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "load_start": load,
        "iperf3": _first_line(["iperf3", "--version"]), "stunnel": f"{stunnel_version}, {stunnel_tls}",
        "compiler": _first_line(["c++", "--version"]),
        "tree": f"commit {commit}, {len(changed.splitlines())} files changed or added since" if commit != "?"
                else f"{source} (not a git checkout)",
    }
    for key, value in facts.items():
        print(f"{key}={value}")
    for kv in extra:
        print(kv)


def _machine_ticks():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def cpu(until_pid, specs):
    hz = os.sysconf("SC_CLK_TCK")
    procs = [spec.split(":", 1) for spec in specs]
    before = {}
    for label, pid in procs:
        try:
            before[label] = netbench._proc_ticks(pid)
        except OSError:
            pass  # already gone: left out
    busy0, total0 = _machine_ticks()
    t0 = time.monotonic()
    netbench._wait_exit(until_pid)
    wall = time.monotonic() - t0
    busy1, total1 = _machine_ticks()
    result = {"wall_s": round(wall, 2), "busy": round((busy1 - busy0) / max(1, total1 - total0), 3)}
    for label, pid in procs:
        try:
            result[label] = round((netbench._proc_ticks(pid) - before[label]) / hz / wall, 3)
        except (OSError, KeyError):
            pass
    print(json.dumps(result))


def iperf(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if "error" in doc:
        raise SystemExit(f"iperf3: {doc['error']}")
    end = doc["end"]
    retransmits = end.get("sum_sent", {}).get("retransmits", 0)
    client_cores = end.get("cpu_utilization_percent", {}).get("host_total", 0) / 100
    print(f"{end['sum_received']['bits_per_second'] / 1e9:.3f} {retransmits} {client_cores:.3f}")


COMMANDS = {
    # name: (how many arguments it takes, at least and at most; what runs)
    "scenario": (1, 1, lambda a: scenario(a[0])),
    "gateway-config": (4, 7, lambda a: gateway_config(*a)),
    "policy": (1, 1, lambda a: policy(a[0])),
    "machine": (1, 99, machine),
    "cpu": (1, 99, lambda a: cpu(int(a[0]), a[1:])),
    "iperf": (1, 1, lambda a: iperf(a[0])),
}


def main(argv):
    least, most, run = COMMANDS.get(argv[1] if len(argv) > 1 else "", (1, 0, None))
    if run is None or not least <= len(argv) - 2 <= most:
        sys.stderr.write(__doc__)
        return 2
    run(argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
