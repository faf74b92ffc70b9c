#!/usr/bin/env python3
"""Small network tools for bench/run_gateway_bench.sh.

  netbench.py echo PORT            echo server on 127.0.0.1:PORT (one epoll
                                   loop; holds any number of connections, so
                                   it is also the target of the idle flows)
  netbench.py rtt HOST PORT N      N times: connect, send 1 byte, receive it
                                   back, close; print one JSON object with
                                   every sample in microseconds
  netbench.py cold HOST PORT N LOG one rtt sample N times, each once every
                                   tunnel that gateway log LOG says was
                                   dialed has been torn down ("closed: idle")
  netbench.py open HOST PORT N     open N connections without sending; print
                                   "connected N"; at the line "echo" on stdin
                                   check each with a 1-byte echo and print
                                   "echoed N"; keep them open until stdin
                                   closes or SIGTERM
  netbench.py iperf FILE           Gbit/s received from an iperf3 -J file
  netbench.py threadcpu UNTILPID LABEL:PID...
                                   CPU use of every thread of each process
                                   from now until process UNTILPID exits, as
                                   JSON (percent of one core; names from /proc)
  netbench.py proccpu UNTILPID LABEL:PID...
                                   CPU time of each process (all its threads,
                                   and its reaped children: socat forks one
                                   per connection) from now until UNTILPID
                                   exits, plus half a second for reaping; JSON
                                   with cores used (CPU seconds / wall seconds)
  netbench.py free-ports N         N free loopback ports

Everything here binds or connects to loopback only.
"""
import json
import os
import selectors
import signal
import socket
import sys
import time


def echo(port):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(4096)
    srv.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            s = key.fileobj
            if s is srv:
                while True:
                    try:
                        conn, _ = srv.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:  # EMFILE and the like: try again later
                        break
                    conn.setblocking(False)
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sel.register(conn, selectors.EVENT_READ)
                continue
            try:
                data = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                s.close()
                continue
            try:
                s.sendall(data)  # tiny echoes: never blocks for long
            except OSError:
                sel.unregister(s)
                s.close()


def one_rtt(host, port, timeout):
    t0 = time.perf_counter()
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"x")
        b = s.recv(1)
        t1 = time.perf_counter()
        if b != b"x":
            raise RuntimeError(f"echo returned {b!r}")
    finally:
        s.close()
    return (t1 - t0) * 1e6


def rtt(host, port, n):
    samples = [round(one_rtt(host, port, 10.0), 1) for _ in range(n)]
    print(json.dumps({"samples_us": samples}))


def pingpong(host, port, n):
    """n request/response exchanges of 64 bytes on one connection."""
    s = socket.create_connection((host, port), timeout=10.0)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    msg = b"q" * 64
    samples = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                b = s.recv(len(msg) - len(got))
                if not b:
                    raise RuntimeError("echo closed the connection")
                got += b
            samples.append(round((time.perf_counter() - t0) * 1e6, 1))
            time.sleep(0.005)  # a request every few ms, like a client's queries
    finally:
        s.close()
    print(json.dumps({"samples_us": samples}))


def cold(host, port, n, log):
    def torn_down():
        # Every tunnel dialed so far has been torn down for being idle.
        with open(log, errors="replace") as f:
            text = f.read()
        return text.count("closed: idle") >= text.count(": dialing ")
    samples = []
    for _ in range(n):
        deadline = time.monotonic() + 15
        while not torn_down():
            if time.monotonic() > deadline:
                raise SystemExit("cold: no idle teardown within 15 s")
            time.sleep(0.01)
        samples.append(round(one_rtt(host, port, 10.0), 1))
    print(json.dumps({"samples_us": samples}))


def open_flows(host, port, n):
    """Opens n connections, then on request checks each with an echo."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    conns = []
    t0 = time.monotonic()
    for _ in range(n):
        conns.append(socket.create_connection((host, port), timeout=60))
    print(f"connected {len(conns)} in {time.monotonic() - t0:.1f} s", flush=True)
    try:
        if sys.stdin.readline().strip() == "echo":
            t0 = time.monotonic()
            batch = 200  # a few hundred flows in flight at a time
            for i in range(0, n, batch):
                group = conns[i:i + batch]
                for s in group:
                    s.sendall(b"x")
                for s in group:
                    if s.recv(1) != b"x":
                        raise SystemExit("a flow did not echo")
            print(f"echoed {len(conns)} in {time.monotonic() - t0:.1f} s", flush=True)
        sys.stdin.read()  # until the script closes our stdin
    finally:
        for s in conns:
            s.close()


def iperf(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if "error" in doc:
        raise SystemExit(f"iperf3: {doc['error']}")
    print(f"{doc['end']['sum_received']['bits_per_second'] / 1e9:.3f}")


def _thread_ticks(pid):
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        out[tid] = (name, int(fields[11]), int(fields[12]))  # utime, stime
    return out


def threadcpu(until_pid, specs):
    hz = os.sysconf("SC_CLK_TCK")
    procs = [spec.split(":", 1) for spec in specs]
    before = {label: _thread_ticks(pid) for label, pid in procs}
    t0 = time.monotonic()
    while os.path.exists(f"/proc/{until_pid}"):
        with open(f"/proc/{until_pid}/stat") as f:
            if f.read().split(") ")[1].startswith("Z"):
                break  # exited, not yet reaped
        time.sleep(0.05)
    after = {label: _thread_ticks(pid) for label, pid in procs}
    wall = time.monotonic() - t0
    result = {}
    for label, _ in procs:
        threads = []
        for tid, (name, u1, s1) in sorted(after[label].items(), key=lambda kv: int(kv[0])):
            _, u0, s0 = before[label].get(tid, (name, 0, 0))
            threads.append({"tid": int(tid), "name": name, "user_pct": round(100 * (u1 - u0) / hz / wall, 1),
                            "sys_pct": round(100 * (s1 - s0) / hz / wall, 1)})
        result[label] = threads
    print(json.dumps(result))


def _proc_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return sum(int(x) for x in fields[11:15])  # utime stime cutime cstime


def _wait_exit(pid):
    while os.path.exists(f"/proc/{pid}"):
        with open(f"/proc/{pid}/stat") as f:
            if f.read().split(") ")[1].startswith("Z"):
                return  # exited, not yet reaped
        time.sleep(0.05)


def proccpu(until_pid, specs):
    hz = os.sysconf("SC_CLK_TCK")
    procs = [spec.split(":", 1) for spec in specs]
    before = {label: _proc_ticks(pid) for label, pid in procs}
    t0 = time.monotonic()
    _wait_exit(until_pid)
    wall = time.monotonic() - t0
    time.sleep(0.5)  # let socat reap its per-connection children
    result = {"wall_s": round(wall, 2)}
    for label, pid in procs:
        result[label] = round((_proc_ticks(pid) - before[label]) / hz / wall, 3)
    print(json.dumps(result))


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "echo" and len(argv) == 3:
        echo(int(argv[2]))
    elif cmd == "rtt" and len(argv) == 5:
        rtt(argv[2], int(argv[3]), int(argv[4]))
    elif cmd == "pingpong" and len(argv) == 5:
        pingpong(argv[2], int(argv[3]), int(argv[4]))
    elif cmd == "cold" and len(argv) == 6:
        cold(argv[2], int(argv[3]), int(argv[4]), argv[5])
    elif cmd == "open" and len(argv) == 5:
        open_flows(argv[2], int(argv[3]), int(argv[4]))
    elif cmd == "iperf" and len(argv) == 3:
        iperf(argv[2])
    elif cmd == "threadcpu" and len(argv) >= 4:
        threadcpu(int(argv[2]), argv[3:])
    elif cmd == "proccpu" and len(argv) >= 4:
        proccpu(int(argv[2]), argv[3:])
    elif cmd == "free-ports" and len(argv) == 3:
        free_ports(int(argv[2]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
