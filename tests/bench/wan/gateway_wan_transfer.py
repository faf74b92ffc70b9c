#!/usr/bin/env python3
"""A braid gateway pair across the emulated WAN link, for
gateway_wan_test.cc. Run by bench/wan/netns.sh run (which exports WAN_NS_A,
WAN_NS_B and WAN_ADDR_B):

  gateway_wan_transfer.py PROXY BRAIDCTL WANBENCH NBYTES [KILLS [ACTION]]

gw-b listens in namespace B, gw-a in A dials it across the link with the
defaults (tunnel.lanes = 0, the flow window auto-tuned) except a small
initial window. One flow carries NBYTES from a source in A through gw-a
and gw-b to a sink in B, then stays open and idle for a few seconds, then
ends. Prints one line "result {JSON}": both ends' byte counts and SHA-256,
the time from starting the source until every byte had reached gw-b's host
(transfer_s, to within the 0.1-0.2 s of polling), the largest receive window gw-b showed during the transfer and the one it
showed after the idle pause (/flows), and the lane count gw-a's first lane
decided. With KILLS, gw-b kills one lane of the tunnel (POST
/tunnels/ID/lanes/N/kill) each time another 1/(KILLS+1) of the data has
arrived, the flow's control lane first, and the result adds how many kills
were made and gw-b's lane-loss counters. ACTION "retire" retires the lanes
instead (POST .../retire: make-before-break). Every wait has a deadline;
the caller bounds the whole run.
"""
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

INITIAL_WINDOW = 1 << 20
SINK_PORT = 5300
SERVICE_PORT = 8100
ADMIN_B = 9912
IDLE_S = 4.5  # past the 2 s idle reset, with room for a loaded machine
DEADLINE_S = 90


def netns(ns, *cmd, **kw):
    return subprocess.Popen(["ip", "netns", "exec", ns, *cmd], **kw)


def wait_for(predicate, what, timeout=20):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"gateway_wan_transfer: timed out waiting for {what}")
        time.sleep(0.05)


def admin_b(path):
    """A GET of gw-b's admin endpoint, from inside namespace B: the body."""
    out = subprocess.run(["ip", "netns", "exec", os.environ["WAN_NS_B"], sys.executable, "-c",
                          f"import urllib.request; print(urllib.request.urlopen("
                          f"'http://127.0.0.1:{ADMIN_B}{path}', timeout=2).read().decode())"],
                         capture_output=True, text=True, timeout=10, check=False)
    return out.stdout


def flows_b():
    """gw-b's /flows."""
    try:
        return json.loads(admin_b("/flows"))["flows"]
    except (ValueError, KeyError):
        return []


def metric_b(name):
    """The sum of every series of counter `name` on gw-b."""
    total = 0.0
    for line in admin_b("/metrics").splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def sink():
    """In B: accept one connection, hash it to its end."""
    srv = socket.create_server(("127.0.0.1", SINK_PORT))
    srv.settimeout(DEADLINE_S)
    print("listening", flush=True)
    conn, _ = srv.accept()
    conn.settimeout(DEADLINE_S)
    digest, total = hashlib.sha256(), 0
    while True:
        data = conn.recv(1 << 20)
        if not data:
            break
        digest.update(data)
        total += len(data)
    print(json.dumps({"bytes": total, "sha256": digest.hexdigest()}), flush=True)


def killer(nbytes, kills, action):
    """In B: kill (or retire: action) a lane of gw-b's tunnel each time
    another 1/(kills+1) of nbytes has reached the sink (the flow's control
    lane first, then lanes that are up), polling the admin endpoint; print
    how many were made."""
    def get(path, method="GET"):
        req = urllib.request.Request(f"http://127.0.0.1:{ADMIN_B}{path}", method=method)
        try:
            with urllib.request.urlopen(req, timeout=2) as answer:
                return answer.status, answer.read().decode()
        except OSError:
            return 0, ""
    done, deadline = 0, time.monotonic() + DEADLINE_S
    print("ready", flush=True)
    while done < kills and time.monotonic() < deadline:
        try:
            flows = json.loads(get("/flows")[1])["flows"]
        except ValueError:
            flows = []
        if not flows or flows[0].get("bytes_received", 0) >= nbytes:
            if flows:
                break  # all arrived
            time.sleep(0.02)
            continue
        f = flows[0]
        if f.get("bytes_received", 0) >= nbytes * (done + 1) // (kills + 1):
            lanes = json.loads(get("/tunnels")[1])["tunnels"][0]["lanes"]
            up = [lane["index"] for lane in lanes if lane["state"] == "up"]
            lane = f["control_lane"] if done == 0 else (up[done % len(up)] if up else None)
            if lane is not None and get(f"/tunnels/{f['tunnel']}/lanes/{lane}/{action}", "POST")[0] == 200:
                done += 1
        time.sleep(0.02)
    print(json.dumps({"kills": done}), flush=True)


def source(nbytes):
    """In A: send nbytes of a fixed pattern through gw-a, wait, then close."""
    s = socket.create_connection(("127.0.0.1", SERVICE_PORT), 10)
    s.settimeout(DEADLINE_S)
    digest, sent = hashlib.sha256(), 0
    block = bytes((i * 131 + 7) & 0xFF for i in range(1 << 16)) * 4
    while sent < nbytes:
        chunk = block[: min(len(block), nbytes - sent)]
        s.sendall(chunk)
        digest.update(chunk)
        sent += len(chunk)
    print(json.dumps({"bytes": sent, "sha256": digest.hexdigest()}), flush=True)
    sys.stdin.readline()  # the parent says when the idle pause is over
    s.close()


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "sink":
        return sink()
    if len(sys.argv) == 3 and sys.argv[1] == "source":
        return source(int(sys.argv[2]))
    if len(sys.argv) == 5 and sys.argv[1] == "killer":
        return killer(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    proxy, braidctl, wanbench, nbytes = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    kills = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    action = sys.argv[6] if len(sys.argv) > 6 else "kill"
    if action not in ("kill", "retire"):
        sys.exit(f"gateway_wan_transfer: ACTION is kill or retire, not {action!r}")
    ns_a, ns_b, addr_b = os.environ["WAN_NS_A"], os.environ["WAN_NS_B"], os.environ["WAN_ADDR_B"]
    work = tempfile.mkdtemp(prefix="braid-wantest.")
    procs = []
    try:
        subprocess.run([braidctl, "pki", "init", "pki"], cwd=work, check=True, capture_output=True)
        for gw in ("gw-a", "gw-b"):
            subprocess.run([braidctl, "pki", "issue", "pki", gw], cwd=work, check=True, capture_output=True)
        run = lambda *a: subprocess.run([sys.executable, wanbench, *a], cwd=work, check=True)
        run("policy", "policy.json")
        env = dict(os.environ, BRAID_TUNNEL_EXTRA=f'"flow_window_bytes": {INITIAL_WINDOW}')
        subprocess.run([sys.executable, wanbench, "gateway-config", "b.json", "gw-b", "0", f"{addr_b}:4400"],
                       cwd=work, check=True, env=env)
        subprocess.run([sys.executable, wanbench, "gateway-config", "a.json", "gw-a", "0", "127.0.0.1:0",
                        f"{addr_b}:4400", f"127.0.0.1:{SERVICE_PORT}", f"127.0.0.1:{SINK_PORT}"],
                       cwd=work, check=True, env=env)
        with open(os.path.join(work, "b.json")) as f:
            config_b = json.load(f)
        config_b["admin"] = {"listen": f"127.0.0.1:{ADMIN_B}"}
        with open(os.path.join(work, "b.json"), "w") as f:
            json.dump(config_b, f)
        log_a, log_b = os.path.join(work, "a.log"), os.path.join(work, "b.log")
        sink_p = netns(ns_b, sys.executable, __file__, "sink", stdout=subprocess.PIPE, text=True)
        procs.append(sink_p)
        assert sink_p.stdout.readline().strip() == "listening"
        procs.append(netns(ns_b, proxy, "--config", os.path.join(work, "b.json"), cwd=work,
                           stdout=open(log_b, "w"), stderr=subprocess.STDOUT))
        wait_for(lambda: "tunnel listener on" in open(log_b).read(), "gw-b to start")
        procs.append(netns(ns_a, proxy, "--config", os.path.join(work, "a.json"), cwd=work,
                           stdout=open(log_a, "w"), stderr=subprocess.STDOUT))
        wait_for(lambda: "service iperf on" in open(log_a).read(), "gw-a to start")

        kill_p = None
        if kills:
            kill_p = netns(ns_b, sys.executable, __file__, "killer", str(nbytes), str(kills), action,
                           stdout=subprocess.PIPE, text=True)
            procs.append(kill_p)
            assert kill_p.stdout.readline().strip() == "ready"
        started = time.monotonic()
        src = netns(ns_a, sys.executable, __file__, "source", str(nbytes), stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, text=True)
        procs.append(src)
        largest = [0]
        sending = threading.Event()
        sending.set()

        def watch():
            while sending.is_set():
                for f in flows_b():
                    largest[0] = max(largest[0], f.get("window_bytes", 0))
                time.sleep(0.1)

        watcher = threading.Thread(target=watch)
        watcher.start()
        sent = json.loads(src.stdout.readline())
        # Everything sent has reached gw-b's host when its flow has handed
        # nbytes to the sink.
        wait_for(lambda: any(f.get("bytes_received", 0) >= nbytes for f in flows_b()), "the data to arrive", 60)
        transfer_s = time.monotonic() - started
        sending.clear()
        watcher.join()
        time.sleep(IDLE_S)
        after_idle = [f.get("window_bytes", 0) for f in flows_b()]
        src.stdin.write("\n")
        src.stdin.flush()
        src.wait(timeout=30)
        received = json.loads(sink_p.stdout.readline())
        killed = json.loads(kill_p.stdout.readline())["kills"] if kill_p else 0
        wait_for(lambda: " end=" in open(log_b).read(), "gw-b to log the flow's end")
        lanes = re.findall(r"round trip ([0-9.]+) ms: (\d+) lanes", open(log_a).read())
        print("result " + json.dumps({
            "sent": sent, "received": received, "largest_window": largest[0],
            "window_after_idle": after_idle, "initial_window": INITIAL_WINDOW,
            "first_lane_rtt_ms": float(lanes[0][0]) if lanes else None,
            "lanes": int(lanes[0][1]) if lanes else None,
            "transfer_s": round(transfer_s, 3),
            "kills": killed, "lanes_lost_b": metric_b("braid_lanes_lost_total"),
            "lanes_retired_b": metric_b("braid_lanes_retired_total"),
            "frames_resent_b": metric_b("braid_frames_resent_total"),
            "flows_ended_b": [line for line in open(log_b).read().splitlines() if " end=" in line],
        }), flush=True)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["rm", "-rf", work], check=False)


if __name__ == "__main__":
    sys.exit(main())
