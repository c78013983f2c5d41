#!/usr/bin/env python3
"""Malformed-datagram sender of the soak and chaos run (bench/soak.sh).

usage: soak_garbage.py SERVER PORT SOURCE RATE SECONDS

Sends, from SOURCE, RATE datagrams a second for SECONDS (both bounded) to
SERVER:PORT over UDP, cycling through kinds of bad input: random bytes,
a header alone, a query cut inside its question, a question whose label
lengths point past the end, a compression-pointer loop, a count field that
promises more records than there are, an oversized (60 KB) datagram and a
response (QR set) instead of a query.  Whatever comes back is read and
counted, never parsed.  Prints one JSON line: sent, answered (datagrams
received) and per kind counts.  Loopback addresses only.
"""
import json
import os
import random
import select
import socket
import struct
import sys
import time


def header(qid, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def question(name=b"\x04soak\x05bench\x00", qtype=1):
    return name + struct.pack("!HH", qtype, 1)


def kinds(rng):
    qid = rng.randrange(65536)
    full = header(qid) + question()
    return {
        "random": os.urandom(rng.randrange(1, 512)),
        "header-only": header(qid),
        "short-header": header(qid)[: rng.randrange(1, 12)],
        "cut-question": full[: rng.randrange(13, len(full) - 1)],
        "label-past-end": header(qid) + b"\x3f\x41\x41",
        "pointer-loop": header(qid) + b"\xc0\x0c" + struct.pack("!HH", 1, 1),
        "counts-lie": header(qid, an=40, ar=40) + question(),
        "oversized": header(qid) + question() + os.urandom(60000),
        "response": header(qid, flags=0x8180) + question(),
        "bad-opcode": header(qid, flags=0x7900) + question(),
    }


def main():
    server, port, source, rate, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
    if not server.startswith("127.") or not source.startswith("127."):
        sys.exit("soak_garbage.py: loopback addresses only")
    rng = random.Random(7)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((source, 0))
    sock.setblocking(False)
    names = sorted(kinds(rng))
    sent = {n: 0 for n in names}
    answered = 0
    start = time.monotonic()
    end = start + seconds
    limit = int(rate * seconds) + 1
    total = 0
    while total < limit:
        now = time.monotonic()
        if now >= end:
            break
        due = start + total / rate
        if due > now:
            ready, _, _ = select.select([sock], [], [], min(due - now, end - now))
            if ready:
                try:
                    while True:
                        sock.recv(65535)
                        answered += 1
                except (BlockingIOError, ConnectionRefusedError):
                    pass
            continue
        kind = names[total % len(names)]
        try:
            sock.sendto(kinds(rng)[kind], (server, port))
            sent[kind] += 1
        except (BlockingIOError, ConnectionRefusedError, OSError):
            pass
        total += 1
    time.sleep(0.5)
    try:
        while True:
            sock.recv(65535)
            answered += 1
    except (BlockingIOError, ConnectionRefusedError):
        pass
    print(json.dumps({"sent": sum(sent.values()), "answered": answered, "per_kind": sent}))


if __name__ == "__main__":
    main()
