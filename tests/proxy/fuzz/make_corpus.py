#!/usr/bin/env python3
"""Writes the seed corpus of frame_reader_fuzz (docs/protocol.md layout).

Each seed is a mode byte (bits 0-1: 1 dialer, 2 acceptor, else no role;
bits 2-7: how many record-size bytes follow), the record sizes (a byte b is
1 + b bytes for b < 128, else (b - 127) * 128; none: the stream is one
record), then a lane's byte stream. The frames are built here by hand, not
by the codec, so that the seeds also check the codec against the layout.
Crash reproducers found by the fuzzer are kept beside these seeds under
names that say what they are. Usage:
  tests/proxy/fuzz/make_corpus.py [tests/proxy/fuzz/corpus/frame_reader]
"""
import os
import struct
import sys

(LANE_HELLO, OPEN, OPEN_OK, OPEN_REFUSED, DATA, FIN, RST, CREDIT, PING, PONG, GOAWAY, ACK,
 LANE_LOST) = range(1, 14)
VERSION = 2
MAX_PAYLOAD = 16368

BYTEWISE = [0]          # 1-byte records
TLS_RECORDS = [255]     # 16 KiB records, as a busy peer sends them
ODD_RECORDS = [2, 15, 16, 200, 0, 130, 127]


def frame(ftype, flow=0, value=0, payload=b"", flags=0, length=None):
    n = len(payload) if length is None else length
    return struct.pack(">BBHIQ", ftype, flags, n, flow, value) + payload


def hello(tunnel=0x1234, index=0, count=2, generation=0):
    return frame(LANE_HELLO, 0, tunnel,
                 struct.pack(">HHHH", VERSION, index, count, generation) + bytes(range(32)))


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


def ack(received):
    return frame(ACK, 0, received)


def lane_lost(index, generation, received, reserved=0):
    return frame(LANE_LOST, 0, received, struct.pack(">HHI", index, generation, reserved))


def mode(role=0, records=()):
    assert len(records) < 64
    return bytes([(len(records) << 2) | role]) + bytes(records)


def seeds():
    chunks = [b"alpha-", b"bravo-", b"charlie-", b"delta-", b"echo"]
    in_order = b"".join(data(1, i, c) for i, c in enumerate(chunks)) + frame(FIN, 1, len(chunks))
    striped = b"".join(data(1, i, chunks[i]) for i in (2, 0, 1, 4, 3)) + frame(FIN, 1, 5)
    every_type = (hello() + open_ip(3) + open_name(5) + frame(OPEN_OK, 2, 4096, struct.pack(">I", 8))
                  + frame(OPEN_REFUSED, 4, 1, b"\x07deny-db" + b"denied by policy")
                  + data(3, 0, b"x") + frame(FIN, 3, 1) + frame(RST, 5, 1, b"reset by host")
                  + frame(CREDIT, 3, 1 << 20, struct.pack(">Q", 32)) + frame(PING, 0, 42)
                  + frame(PONG, 0, 42) + frame(GOAWAY, 0, 0, b"idle") + ack(7)
                  + lane_lost(1, 3, 12345))

    # Well-formed streams.
    yield "every_type", mode() + every_type
    yield "every_type_bytewise", mode(0, BYTEWISE) + every_type
    yield "every_type_odd_records", mode(2, ODD_RECORDS) + every_type
    yield "in_order_dialer", mode(1, [3]) + hello() + frame(OPEN_OK, 1, 65536, struct.pack(">I", 16)) + in_order
    yield "striped_acceptor", mode(2, [7]) + hello(index=1) + open_ip(1) + striped
    yield "redialed_lane", mode(2, [100, 5]) + hello(index=1, count=4, generation=9) + ack(0) + open_ip(1) + ack(1)
    yield "ack_and_lane_lost", (mode(0, [20, 1]) + data(1, 0, b"one") + ack(1) + data(1, 1, b"two") + ack(2)
                                + lane_lost(0, 0, 2) + lane_lost(255, 65535, (1 << 64) - 1)
                                + ack((1 << 64) - 1) + data(1, 2, b"three"))
    yield "duplicate_data", mode() + data(1, 0, b"a") + data(1, 1, b"b") + data(1, 1, b"b") + data(1, 0, b"a")
    yield "beyond_seq_window", mode() + data(1, 100, b"far") + data(1, 15, b"edge") + data(1, 16, b"over")
    yield "after_fin", mode() + frame(FIN, 1, 2) + data(1, 1, b"b") + data(1, 2, b"c") + data(1, 0, b"a")
    yield "fin_inconsistent", mode() + data(1, 3, b"d") + frame(FIN, 1, 2) + frame(FIN, 1, 4) + frame(FIN, 1, 4)
    yield "rst_mid_flow", mode(0, [5]) + data(7, 1, b"one") + frame(RST, 7, 2, b"policy") + data(7, 0, b"zero")
    many = b"".join(data(f, s, bytes([65 + f]) * (f + s)) for s in range(1, 4) for f in range(1, 12, 2))
    yield "many_flows", mode(0, [2]) + many
    big = b"".join(data(9, s, bytes([s]) * MAX_PAYLOAD) for s in (1, 0, 3, 2, 4))
    yield "max_payload_tls_records", mode(0, TLS_RECORDS) + big
    yield "max_payload_odd_records", mode(0, ODD_RECORDS) + big[:3 * (MAX_PAYLOAD + 16)]
    yield "empty_fin_flow", mode() + frame(FIN, 11, 0) + data(11, 0, b"late")
    yield "ends_mid_header", mode(0, [9]) + every_type + frame(PING, 0, 1)[:11]
    yield "ends_mid_payload", mode() + every_type + data(1, 0, b"truncated")[:20]

    # Malformed headers: the reader fails as soon as the header is in.
    yield "bad_type_after_good", mode() + hello() + frame(PING, 0, 1) + frame(0x0E, 0, 0)
    yield "type_zero", mode(0, BYTEWISE) + ack(1) + frame(0x00, 0, 0)
    yield "payload_over_limit", mode() + frame(DATA, 1, 0, b"", length=MAX_PAYLOAD + 1)
    yield "reserved_flags", mode() + frame(PING, 0, 1, flags=0x80)
    yield "parity_error", mode(1) + open_ip(1)
    yield "data_flow_zero", mode(0, [14]) + data(1, 0, b"ok") + data(0, 1, b"bad")
    yield "empty_data", mode() + frame(DATA, 1, 0, b"")
    yield "ack_with_flow", mode() + frame(ACK, 3, 1)
    yield "ack_with_payload", mode(0, ODD_RECORDS) + frame(ACK, 0, 1, b"x")
    yield "lane_lost_short", mode() + frame(LANE_LOST, 0, 1, b"\x00\x01\x00\x02")
    yield "rst_reason_zero", mode() + frame(RST, 2, 0)
    # Malformed payloads: the reader hands them out; ParsePayload refuses them.
    yield "lane_lost_reserved", mode() + ack(0) + lane_lost(1, 1, 1, reserved=1)
    yield "lane_lost_bad_index", mode(2) + lane_lost(256, 0, 5)
    yield "hello_index_over_count", mode() + hello(index=2, count=2)
    bad_open = bytearray(open_ip(1)[16:])
    bad_open[4] = 99
    yield "open_bad_protocol", mode(2, [30]) + frame(OPEN, 1, 65536, bytes(bad_open))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "frame_reader")
    os.makedirs(out, exist_ok=True)
    for name, blob in seeds():
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(blob)


if __name__ == "__main__":
    main()
