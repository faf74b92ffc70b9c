#!/usr/bin/env python3
"""Writes the seed corpus of lane_recovery_fuzz (see the top of
lane_recovery_fuzz.cc for the input layout).

Two kinds of seed:
  - seed-gen-*: three bytes, the shape (lanes, flows, ACK mode), the window, and
    a tag. Shorter than kShortInput, so the fuzzer's fixed-seed generator
    makes a long run of operations from them: one seed per shape.
  - seed-story-*: a scripted run of operations, at least kShortInput bytes (so
    the fuzzer reads them as they are), each a loss story the generator
    reaches only by luck: every lane lost at once, a resend onto a lane
    whose reader has stopped, an ACK still arriving after the reader
    stopped, duplicates of pending frames.
Crash reproducers found by the fuzzer are kept beside these seeds under
names that say what they are. Usage:
  tests/proxy/fuzz/make_lane_recovery_corpus.py [tests/proxy/fuzz/corpus/lane_recovery]
"""
import os
import sys

SHORT_INPUT = 8  # kShortInput

# The first index of each operation in kOps (lane_recovery_fuzz.cc).
SEND, DELIVER, ACK, DELIVER_ACKS, STOP, LEARN, REDIAL = 0, 8, 15, 16, 18, 19, 20
DUPLICATE, INCONSISTENT, CONSUME, CREDIT, PING, FIN, PROBE = 21, 22, 23, 27, 29, 30, 31

WINDOW_BYTES = {1024: 0, 16 * 1024: 1, 64 * 1024: 2, 1 << 20: 3}
WINDOW_FRAMES = {2: 0, 8: 1, 64: 2, 1024: 3}


def header(lanes, flows, prompt, window_bytes, window_frames):
    shape = (lanes - 1) | (flows - 1) << 3 | (0x20 if prompt else 0)
    return bytes([shape, WINDOW_BYTES[window_bytes] | WINDOW_FRAMES[window_frames] << 2])


def send(flow, lane, size_byte=40):
    return bytes([SEND, flow, lane, size_byte])


def deliver(lane, count=1):
    return bytes([DELIVER, lane | (count - 1) << 5])


def ack(lane, any_new=True):
    return bytes([ACK, lane | (0x80 if any_new else 0)])


def deliver_acks(lane, count=1):
    return bytes([DELIVER_ACKS, lane | (count - 1) << 5])


def stop(lane):
    return bytes([STOP, lane])


def learn(lane, target):
    return bytes([LEARN, lane, target])


def redial(lane):
    return bytes([REDIAL, lane])


def consume(flow, how=0):
    return bytes([CONSUME, flow, how])


def credit(flow):
    return bytes([CREDIT, flow])


def story(head, *ops):
    body = head + b"".join(ops)
    assert len(body) >= SHORT_INPUT
    return body


def stories():
    h2 = header(2, 1, False, 64 * 1024, 64)
    yield "seed-story-every_lane_lost_then_redial", story(
        h2, send(0, 0), send(0, 1), send(0, 0), deliver(1), stop(0), stop(1),
        learn(0, 0),  # onto lane 1, whose reader has stopped
        learn(1, 0),  # no lane believed up: the frames are held
        send(0, 1),  # held too
        redial(1), deliver(1, 8), redial(0), consume(0))
    h3 = header(3, 2, False, 64 * 1024, 64)
    yield "seed-story-resend_onto_a_stopped_lane", story(
        h3, send(0, 0), send(1, 0), send(0, 1), deliver(0), stop(0), stop(1),
        learn(0, 1),  # onto lane 1, whose reader has stopped: lost again
        learn(1, 2), deliver(2, 8), redial(0), redial(1), consume(0), consume(1))
    yield "seed-story-ack_after_reader_stopped", story(
        h2, send(0, 0), send(0, 0), send(0, 0), deliver(0, 2), ack(0), stop(0),
        send(0, 0),  # the sender does not know yet
        deliver_acks(0),  # the ACK sent before the loss still arrives
        learn(0, 1), deliver(1, 8), consume(0))
    hw = header(2, 1, False, 64 * 1024, 8)
    yield "seed-story-duplicates_of_pending_frames", story(
        hw, send(0, 0), send(0, 1), send(0, 1), send(0, 0), deliver(1, 2),  # seqs 1, 2 pending
        bytes([DUPLICATE, 0, 1]), bytes([DUPLICATE, 0, 3]),  # exact copies of pending frames
        bytes([INCONSISTENT, 0, 1, 0]), bytes([INCONSISTENT, 0, 1, 2]), bytes([INCONSISTENT, 0, 1, 4]),
        deliver(0, 2), bytes([DUPLICATE, 0, 0]), bytes([INCONSISTENT, 0, 0, 0]),  # below next_seq
        consume(0), stop(1), learn(1, 0), deliver(0, 8))
    hp = header(1, 1, True, 1024, 2)
    yield "seed-story-bad_counts_one_lane", story(
        hp, send(0, 0, 200), deliver(0), bytes([PROBE, 0, 0]), consume(0, 1), credit(0), send(0, 0, 3),
        bytes([PROBE, 0, 7]), stop(0), bytes([PROBE, 0, 255]), learn(0, 0), redial(0), bytes([PROBE, 0, 1]),
        bytes([PING, 0]), deliver(0, 8), bytes([FIN, 0xf0, 0]))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "lane_recovery")
    os.makedirs(out, exist_ok=True)
    seeds = {}
    for lanes in (1, 2, 3, 8):
        for flows in (1, 4):
            for prompt in (False, True):
                for wb, wf in ((1024, 2), (64 * 1024, 64), (1 << 20, 1024), (16 * 1024, 8)):
                    if lanes in (2, 3) and (wb, wf) in ((1024, 2), (1 << 20, 1024)):
                        continue  # the extremes with 1 and 8 lanes are enough
                    name = "seed-gen-lanes%d-flows%d-%s-w%d-f%d" % (lanes, flows, "prompt" if prompt else "lazy", wb, wf)
                    seeds[name] = header(lanes, flows, prompt, wb, wf) + b"\x00"
    seeds.update(stories())
    for name, data in sorted(seeds.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(seeds), out))


if __name__ == "__main__":
    main()
