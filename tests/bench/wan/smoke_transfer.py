#!/usr/bin/env python3
"""One TCP transfer across the emulated WAN link, for
link_emulator_smoke_test.cc. Run by bench/wan/netns.sh run (which exports
WAN_NS_A, WAN_NS_B and WAN_ADDR_B):

  smoke_transfer.py NBYTES       a receiver in namespace B, a sender in A;
                                 prints one line "result {JSON}" with both
                                 sides' byte counts and SHA-256 and the
                                 sender's TCP connect time in ms
  smoke_transfer.py receive ADDR PORT
  smoke_transfer.py send ADDR PORT NBYTES     (the two halves, run inside
                                 the namespaces by the first form)

Every socket has a timeout; the whole run is bounded by the caller's.
"""
import hashlib
import json
import os
import socket
import subprocess
import sys
import time

PORT = 5001
TIMEOUT_S = 20


def receive(addr, port):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(1)
    srv.settimeout(TIMEOUT_S)
    print("listening", flush=True)
    conn, _ = srv.accept()
    conn.settimeout(TIMEOUT_S)
    digest, total = hashlib.sha256(), 0
    while True:
        chunk = conn.recv(1 << 20)
        if not chunk:
            break
        digest.update(chunk)
        total += len(chunk)
    conn.close()
    print(json.dumps({"bytes": total, "sha256": digest.hexdigest()}), flush=True)


def send(addr, port, nbytes):
    data = os.urandom(nbytes)
    s = socket.socket()
    s.settimeout(TIMEOUT_S)
    # Only connect() is timed: the SYN and SYN-ACK crossing the link (a
    # numeric address, so no resolver runs inside it).
    t0 = time.perf_counter()
    s.connect((addr, port))
    connect_ms = (time.perf_counter() - t0) * 1e3
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)  # until the receiver closes: every byte was read
    s.close()
    print(json.dumps({"bytes": nbytes, "sha256": hashlib.sha256(data).hexdigest(),
                      "connect_ms": round(connect_ms, 3)}), flush=True)


def run(nbytes):
    ns_a, ns_b, addr_b = os.environ["WAN_NS_A"], os.environ["WAN_NS_B"], os.environ["WAN_ADDR_B"]
    me = os.path.abspath(__file__)
    receiver = subprocess.Popen(["ip", "netns", "exec", ns_b, sys.executable, me, "receive", addr_b, str(PORT)],
                                stdout=subprocess.PIPE, text=True)
    try:
        if receiver.stdout.readline().strip() != "listening":
            raise SystemExit("the receiver did not start")
        sender = subprocess.run(["ip", "netns", "exec", ns_a, sys.executable, me, "send", addr_b, str(PORT),
                                 str(nbytes)], stdout=subprocess.PIPE, text=True, timeout=TIMEOUT_S + 5,
                                check=True)
        received = json.loads(receiver.stdout.readline())
        receiver.wait(timeout=TIMEOUT_S)
    finally:
        if receiver.poll() is None:
            receiver.kill()
    sent = json.loads(sender.stdout.strip().splitlines()[-1])
    print("result " + json.dumps({"sent": sent, "received": received}), flush=True)


def main(argv):
    # argv[1:] is NBYTES, or a subcommand and its arguments.
    commands = {2: run_from_argv, 4: receive_from_argv, 5: send_from_argv}
    handler = commands.get(len(argv))
    if handler is None or not handler(argv[1:]):
        sys.stderr.write(__doc__)
        sys.exit(2)


def run_from_argv(args):
    run(int(args[0]))
    return True


def receive_from_argv(args):
    if args[0] != "receive":
        return False
    receive(args[1], int(args[2]))
    return True


def send_from_argv(args):
    if args[0] != "send":
        return False
    send(args[1], int(args[2]), int(args[3]))
    return True


main(sys.argv)
