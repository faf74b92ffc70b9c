#!/usr/bin/env python3
"""Writes the seed corpus of frame_decoder_fuzz (docs/protocol.md layout).

Each seed is one mode byte (bits 0-1: 1 dialer, 2 acceptor, else no role;
bits 2-7: feed pattern, 0 = one feed) followed by a lane's byte stream.
Crash reproducers found by the fuzzer are kept beside these seeds under
their libFuzzer names (crash-*, oom-*, timeout-*). Usage:
  tests/proxy/fuzz/make_corpus.py tests/proxy/fuzz/corpus/frame_decoder
"""
import os
import struct
import sys

LANE_HELLO, OPEN, OPEN_OK, OPEN_REFUSED, DATA, FIN, RST, CREDIT, PING, PONG, GOAWAY = range(1, 12)


def frame(ftype, flow=0, value=0, payload=b"", flags=0, length=None):
    n = len(payload) if length is None else length
    return struct.pack(">BBHIQ", ftype, flags, n, flow, value) + payload


def hello(tunnel=0x1234, index=0, count=2):
    return frame(LANE_HELLO, 0, tunnel, struct.pack(">HHHH", 1, index, count, 0) + bytes(range(32)))


def open_ip(flow, v4_target=0x0A020009, port=5432, credit=65536, seq_credit=16):
    p = struct.pack(">IBBH", seq_credit, 6, 4, 40000) + struct.pack(">I", 0x0A000001) + bytes(12)
    p += struct.pack(">BBH", 4, 0, port) + struct.pack(">I", v4_target) + bytes(12)
    return frame(OPEN, flow, credit, p)


def open_name(flow, name=b"db.internal", port=443):
    src6 = bytes.fromhex("20010db8000000000000000000000001")
    p = struct.pack(">IBBH", 64, 6, 6, 1) + src6
    p += struct.pack(">BBH", 1, len(name), port) + bytes(16) + name
    return frame(OPEN, flow, 1 << 20, p)


def data(flow, seq, payload):
    return frame(DATA, flow, seq, payload)


def mode(role=0, pattern=0):
    return bytes([(pattern << 2) | role])


def seeds():
    chunks = [b"alpha-", b"bravo-", b"charlie-", b"delta-", b"echo"]
    in_order = b"".join(data(1, i, c) for i, c in enumerate(chunks)) + frame(FIN, 1, len(chunks))
    striped = b"".join(data(1, i, chunks[i]) for i in (2, 0, 1, 4, 3)) + frame(FIN, 1, 5)
    every_type = (hello() + open_ip(3) + open_name(5) + frame(OPEN_OK, 2, 4096, struct.pack(">I", 8))
                  + frame(OPEN_REFUSED, 4, 1, b"\x07deny-db" + b"denied by policy")
                  + data(3, 0, b"x") + frame(FIN, 3, 1) + frame(RST, 5, 1, b"reset by host")
                  + frame(CREDIT, 3, 1 << 20, struct.pack(">Q", 32)) + frame(PING, 0, 42)
                  + frame(PONG, 0, 42) + frame(GOAWAY, 0, 0, b"idle"))
    yield "every_type", mode() + every_type
    yield "every_type_bytewise", mode(0, 1) + every_type
    yield "in_order_dialer", mode(1, 3) + hello() + frame(OPEN_OK, 1, 65536, struct.pack(">I", 16)) + in_order
    yield "striped_acceptor", mode(2, 7) + hello(index=1) + open_ip(1) + striped
    yield "duplicate_data", mode() + data(1, 0, b"a") + data(1, 1, b"b") + data(1, 1, b"b") + data(1, 0, b"a")
    yield "beyond_seq_window", mode() + data(1, 100, b"far") + data(1, 15, b"edge") + data(1, 16, b"over")
    yield "after_fin", mode() + frame(FIN, 1, 2) + data(1, 1, b"b") + data(1, 2, b"c") + data(1, 0, b"a")
    yield "fin_inconsistent", mode() + data(1, 3, b"d") + frame(FIN, 1, 2) + frame(FIN, 1, 4) + frame(FIN, 1, 4)
    yield "rst_mid_flow", mode(0, 5) + data(7, 1, b"one") + frame(RST, 7, 2, b"policy") + data(7, 0, b"zero")
    many = b"".join(data(f, s, bytes([65 + f]) * (f + s)) for s in range(1, 4) for f in range(1, 12, 2))
    yield "many_flows", mode(0, 2) + many
    big = b"".join(data(9, s, bytes([s]) * 16368) for s in (1, 0, 3, 2, 4))
    yield "max_payload_window", mode(0, 63) + big
    yield "bad_type_after_good", mode() + hello() + frame(PING, 0, 1) + frame(0x0C, 0, 0)
    yield "payload_over_limit", mode() + frame(DATA, 1, 0, b"", length=16369)
    yield "reserved_flags", mode() + frame(PING, 0, 1, flags=0x80)
    yield "parity_error", mode(1) + open_ip(1)
    yield "empty_fin_flow", mode() + frame(FIN, 11, 0) + data(11, 0, b"late")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "frame_decoder")
    os.makedirs(out, exist_ok=True)
    for name, blob in seeds():
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(blob)


if __name__ == "__main__":
    main()
