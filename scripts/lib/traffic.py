#!/usr/bin/env python3
"""Traffic for the demo and the benchmarks: a sink and a source that check
every byte end to end with SHA-256.

  traffic.py sink PORT          accept connections; for each, hash what
                                arrives until EOF, send the hex digest back
  traffic.py send HOST PORT N   send N random bytes (half-close), print a live
                                progress line, compare the digest the sink
                                returns with our own; exit 1 on mismatch
  traffic.py probe HOST PORT    connect and report whether the connection is
                                refused or reset (for the policy demo)
  traffic.py free-ports N       print N free loopback ports
"""
import hashlib
import os
import socket
import sys
import threading
import time


def sink(port):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(64)

    def serve(conn):
        h = hashlib.sha256()
        with conn:
            try:
                while True:
                    b = conn.recv(1 << 20)
                    if not b:
                        break
                    h.update(b)
                conn.sendall(h.hexdigest().encode())
            except OSError:
                pass

    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def human(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024


def send(host, port, total):
    block = os.urandom(4 << 20)
    h = hashlib.sha256()
    conn = socket.create_connection((host, port))
    start = last = time.monotonic()
    sent = 0
    while sent < total:
        chunk = block[: min(len(block), total - sent)]
        conn.sendall(chunk)
        h.update(chunk)
        sent += len(chunk)
        now = time.monotonic()
        if now - last >= 0.25 or sent == total:
            rate = sent * 8 / max(now - start, 1e-9) / 1e9
            sys.stderr.write(f"\r  {human(sent):>10} of {human(total)}  {rate:5.2f} Gbit/s ")
            sys.stderr.flush()
            last = now
    conn.shutdown(socket.SHUT_WR)
    reply = b""
    while len(reply) < 64:
        b = conn.recv(64 - len(reply))
        if not b:
            break
        reply += b
    elapsed = time.monotonic() - start
    sys.stderr.write("\n")
    ok = reply.decode(errors="replace") == h.hexdigest()
    print(f"sent {total} bytes in {elapsed:.2f} s ({total * 8 / elapsed / 1e9:.2f} Gbit/s), "
          f"SHA-256 {'matches' if ok else 'MISMATCH'}: {h.hexdigest()[:16]}...")
    return 0 if ok else 1


def probe(host, port):
    conn = socket.create_connection((host, port))
    conn.settimeout(5)
    try:
        data = conn.recv(1)
        print("connection closed cleanly" if not data else "connection answered")
    except ConnectionResetError:
        print("connection reset by the gateway (refused)")
    except socket.timeout:
        print("no answer")


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
    if len(argv) >= 2 and argv[1] == "sink":
        sink(int(argv[2]))
    elif len(argv) == 5 and argv[1] == "send":
        return send(argv[2], int(argv[3]), int(argv[4]))
    elif len(argv) == 4 and argv[1] == "probe":
        probe(argv[2], int(argv[3]))
    elif len(argv) == 3 and argv[1] == "free-ports":
        free_ports(int(argv[2]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
