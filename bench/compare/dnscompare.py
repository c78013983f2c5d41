#!/usr/bin/env python3
"""Ask two resolvers the same questions and compare the answers.

Python 3 standard library only: DNS messages are built and parsed here.

  dnscompare.py probe ADDR PORT [--timeout S]
      exit 0 as soon as ADDR:PORT answers anything to a ". SOA" query (RD=0)
  dnscompare.py run --work DIR --test ADDR:PORT --ref ADDR:PORT --report FILE
      ask every question in DIR/questions.json of both, compare, print the summary,
      write the JSON report, exit 1 on any mismatch

Per question: the rcodes must match; the answer sections must hold the same RRsets
(owner, type, set of rdata; order and TTLs ignored); every TTL in the tested
resolver's answer must be <= the TTL in the zone file; the reference must agree with
what the generator expects (so a broken hierarchy cannot pass as "both agree").
"""
import argparse
import asyncio
import ipaddress
import json
import os
import random
import struct
import sys
import time

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28,
         "SRV": 33, "DNAME": 39, "OPT": 41}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


# ------------------------------------------------------------------ wire format
def encode_name(name):
    out = bytearray()
    for lab in name.rstrip(".").split("."):
        if lab:
            b = lab.encode("ascii")
            if len(b) > 63:
                raise ValueError("label too long")
            out.append(len(b))
            out += b
    out.append(0)
    return bytes(out)


def build_query(qid, qname, qtype, rd=True):
    flags = 0x0100 if rd else 0
    hdr = struct.pack("!HHHHHH", qid, flags, 1, 0, 0, 1)
    q = encode_name(qname) + struct.pack("!HH", TYPES[qtype], 1)
    opt = b"\x00" + struct.pack("!HHIH", 41, 4096, 0, 0)   # EDNS0, 4096-byte buffer
    return hdr + q + opt


class ParseError(Exception):
    pass


def read_name(msg, off):
    labels, jumps, end = [], 0, None
    while True:
        if off >= len(msg):
            raise ParseError("name runs past the end")
        ln = msg[off]
        if ln & 0xC0 == 0xC0:
            if off + 1 >= len(msg):
                raise ParseError("truncated pointer")
            if end is None:
                end = off + 2
            off = ((ln & 0x3F) << 8) | msg[off + 1]
            jumps += 1
            if jumps > 64:
                raise ParseError("compression loop")
            continue
        if ln & 0xC0:
            raise ParseError("bad label type")
        off += 1
        if ln == 0:
            break
        labels.append(msg[off:off + ln].decode("ascii", "backslashreplace").lower())
        off += ln
    return ".".join(labels) + ".", (end if end is not None else off)


def rdata_text(msg, rtype, off, rdlen):
    rd = msg[off:off + rdlen]
    if rtype == 1 and rdlen == 4:
        return str(ipaddress.IPv4Address(rd))
    if rtype == 28 and rdlen == 16:
        return str(ipaddress.IPv6Address(rd))
    if rtype in (2, 5, 12, 39):
        return read_name(msg, off)[0]
    if rtype == 15:
        return f"{struct.unpack('!H', rd[:2])[0]} {read_name(msg, off + 2)[0]}"
    if rtype == 6:
        mname, o = read_name(msg, off)
        rname, o = read_name(msg, o)
        return f"{mname} {rname} " + " ".join(str(x) for x in struct.unpack("!IIIII", msg[o:o + 20]))
    if rtype == 16:
        parts, i = [], 0
        while i < len(rd):
            n = rd[i]
            parts.append('"' + rd[i + 1:i + 1 + n].decode("ascii", "backslashreplace") + '"')
            i += 1 + n
        return " ".join(parts)
    return "\\# %d %s" % (rdlen, rd.hex())


def parse_response(msg):
    if len(msg) < 12:
        raise ParseError("short message")
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", msg[:12])
    off = 12
    question = []
    for _ in range(qd):
        n, off = read_name(msg, off)
        t, c = struct.unpack("!HH", msg[off:off + 4])
        off += 4
        question.append((n, t, c))
    sections = []
    for count in (an, ns, ar):
        rrs = []
        for _ in range(count):
            n, off = read_name(msg, off)
            if off + 10 > len(msg):
                raise ParseError("truncated RR")
            t, c, ttl, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
            off += 10
            if off + rdlen > len(msg):
                raise ParseError("truncated rdata")
            if t != 41:
                rrs.append((n, TYPE_NAMES.get(t, f"TYPE{t}"), ttl, rdata_text(msg, t, off, rdlen)))
            off += rdlen
        sections.append(rrs)
    rcode = flags & 0xF
    return {"id": qid, "tc": bool(flags & 0x0200), "rcode": RCODES.get(rcode, f"RCODE{rcode}"),
            "question": question, "answer": sections[0], "authority": sections[1]}


# ------------------------------------------------------------------ transport
class _Udp(asyncio.DatagramProtocol):
    def __init__(self):
        self.fut = asyncio.get_running_loop().create_future()

    def datagram_received(self, data, addr):
        if not self.fut.done():
            self.fut.set_result(data)

    def error_received(self, exc):
        if not self.fut.done():
            self.fut.set_exception(exc)


async def udp_exchange(addr, port, wire, timeout):
    loop = asyncio.get_running_loop()
    tr, pr = await loop.create_datagram_endpoint(_Udp, remote_addr=(addr, port))
    try:
        tr.sendto(wire)
        return await asyncio.wait_for(pr.fut, timeout)
    finally:
        tr.close()


async def tcp_exchange(addr, port, wire, timeout):
    async def go():
        r, w = await asyncio.open_connection(addr, port)
        try:
            w.write(struct.pack("!H", len(wire)) + wire)
            await w.drain()
            ln = struct.unpack("!H", await r.readexactly(2))[0]
            return await r.readexactly(ln)
        finally:
            w.close()
    return await asyncio.wait_for(go(), timeout)


async def ask(addr, port, qname, qtype, timeout, tries, rd=True):
    """-> parsed response dict, or {"rcode": "TIMEOUT"/"ERROR", ...}."""
    last = "TIMEOUT"
    for _ in range(tries):
        qid = random.randrange(65536)
        wire = build_query(qid, qname, qtype, rd)
        try:
            data = await udp_exchange(addr, port, wire, timeout)
            resp = parse_response(data)
            if resp["id"] != qid:
                last = "ERROR: wrong id"
                continue
            if resp["tc"]:
                resp = parse_response(await tcp_exchange(addr, port, wire, timeout))
                resp["via_tcp"] = True
            want = (qname.lower().rstrip(".") + ".", TYPES[qtype], 1)
            if resp["question"] and resp["question"][0] != want:
                last = f"ERROR: question mismatch {resp['question'][0]}"
                continue
            return resp
        except asyncio.TimeoutError:
            last = "TIMEOUT"
        except (OSError, ParseError, asyncio.IncompleteReadError, struct.error) as e:
            last = f"ERROR: {e.__class__.__name__}: {e}"
    return {"rcode": last.split(":")[0], "error": last, "answer": [], "authority": []}


# ------------------------------------------------------------------ comparison
def rrsets(answer):
    sets = {}
    for (n, t, _ttl, rd) in answer:
        sets.setdefault(f"{n} {t}", set()).add(rd)
    return {k: sorted(v) for k, v in sorted(sets.items())}


class TtlBook:
    def __init__(self, path):
        with open(path) as f:
            d = json.load(f)
        self.rrsets = d["rrsets"]
        self.wild = d["wildcards"]
        self.dnames = d["dnames"]

    def limit(self, owner, rtype):
        """Zone TTL for an answer RR, or None if the owner is not in the zones."""
        v = self.rrsets.get(f"{owner}|{rtype}")
        if v is not None:
            return v
        if rtype == "DNAME":
            return self.dnames.get(owner)
        labels = owner.split(".")
        if rtype == "CNAME":   # synthesised from a DNAME: carries the DNAME's TTL
            for i in range(1, len(labels) - 1):
                d = ".".join(labels[i:])
                if d in self.dnames:
                    return self.dnames[d]
        for i in range(1, len(labels) - 1):   # wildcard synthesis: closest *.<ancestor>
            v = self.wild.get("*." + ".".join(labels[i:]) + f"|{rtype}")
            if v is not None:
                return v
        return None


def compare(q, test, ref, book):
    problems = []
    if ref["rcode"] != q["expect_rcode"]:
        problems.append(f"reference rcode {ref['rcode']}, generator expects {q['expect_rcode']}")
    if bool(ref["answer"]) != q["expect_answer"] and ref["rcode"] in ("NOERROR", "NXDOMAIN"):
        problems.append("reference answer " + ("present" if ref["answer"] else "empty") +
                        ", generator expects the opposite")
    if test["rcode"] != ref["rcode"]:
        problems.append(f"rcode {test['rcode']} != reference {ref['rcode']}")
    ts, rs = rrsets(test["answer"]), rrsets(ref["answer"])
    if ts != rs:
        only_t = {k: v for k, v in ts.items() if rs.get(k) != v}
        only_r = {k: v for k, v in rs.items() if ts.get(k) != v}
        problems.append(f"answer differs: tested {only_t} reference {only_r}")
    for (n, t, ttl, _rd) in test["answer"]:
        lim = book.limit(n, t)
        if lim is None:
            problems.append(f"TTL: {n} {t} is not in the zones")
        elif ttl > lim:
            problems.append(f"TTL: {n} {t} ttl {ttl} > zone ttl {lim}")
    return problems


async def run(args):
    with open(os.path.join(args.work, "questions.json")) as f:
        questions = json.load(f)
    book = TtlBook(os.path.join(args.work, "ttls.json"))
    t_addr, t_port = args.test.rsplit(":", 1)
    r_addr, r_port = args.ref.rsplit(":", 1)
    sem = asyncio.Semaphore(args.concurrency)
    deadline = time.monotonic() + args.time_limit
    results = [None] * len(questions)

    async def one(q):
        async with sem:
            if time.monotonic() > deadline:
                results[q["id"]] = None
                return
            test, ref = await asyncio.gather(
                ask(t_addr, int(t_port), q["qname"], q["qtype"], args.timeout, args.tries),
                ask(r_addr, int(r_port), q["qname"], q["qtype"], args.timeout, args.tries))
            results[q["id"]] = (test, ref)

    t0 = time.monotonic()
    await asyncio.gather(*(one(q) for q in questions))
    elapsed = time.monotonic() - t0

    matched, mismatches, by_cat, rcodes, skipped = 0, [], {}, {}, 0
    ttl_viol = 0
    for q, r in zip(questions, results):
        c = by_cat.setdefault(q["category"], {"asked": 0, "matched": 0})
        c["asked"] += 1
        if r is None:
            skipped += 1
            mismatches.append({"question": q, "problems": ["not asked: time limit reached"]})
            continue
        test, ref = r
        rcodes[ref["rcode"]] = rcodes.get(ref["rcode"], 0) + 1
        problems = compare(q, test, ref, book)
        ttl_viol += sum(1 for p in problems if p.startswith("TTL:"))
        if problems:
            mismatches.append({"question": q, "problems": problems,
                               "tested": {"rcode": test["rcode"], "answer": test["answer"],
                                          "error": test.get("error")},
                               "reference": {"rcode": ref["rcode"], "answer": ref["answer"],
                                             "error": ref.get("error")}})
        else:
            matched += 1
            c["matched"] += 1

    n = len(questions)
    print(f"compare: {n} questions, {matched} matched, {len(mismatches)} mismatched "
          f"({elapsed:.1f} s, {n / elapsed if elapsed else 0:.0f} questions/s; "
          f"reference rcodes {dict(sorted(rcodes.items()))}; TTL violations {ttl_viol})")
    for m in mismatches[:20]:
        q = m["question"]
        print(f"  MISMATCH #{q['id']} {q['qname']} {q['qtype']} [{q['category']}, "
              f"{q['zone_kind']}]: " + "; ".join(m["problems"]))
        if "tested" in m:
            print(f"      tested:    {m['tested']['rcode']} {m['tested']['answer']}"
                  + (f" ({m['tested']['error']})" if m["tested"]["error"] else ""))
            print(f"      reference: {m['reference']['rcode']} {m['reference']['answer']}")
    if len(mismatches) > 20:
        print(f"  ... {len(mismatches) - 20} more in the report")
    report = {"questions": n, "matched": matched, "mismatched": len(mismatches),
              "not_asked": skipped, "ttl_violations": ttl_viol,
              "elapsed_s": round(elapsed, 2), "tested": args.test, "reference": args.ref,
              "tested_label": args.test_label, "reference_label": args.ref_label,
              "reference_rcodes": rcodes, "categories": by_cat,
              "mismatches": mismatches[:1000]}
    if args.meta:
        with open(args.meta) as f:
            report["hierarchy"] = json.load(f)
    os.makedirs(os.path.dirname(os.path.abspath(args.report)), exist_ok=True)
    with open(args.report, "w") as f:
        json.dump(report, f, indent=1)
    print(f"compare: report {args.report}")
    return 0 if not mismatches else 1


async def probe(args):
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        r = await ask(args.addr, args.port, ".", "SOA", 0.5, 1, rd=False)
        if r["rcode"] not in ("TIMEOUT", "ERROR"):
            return 0
        await asyncio.sleep(0.2)
    return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("probe")
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("--timeout", type=float, default=10)
    r = sub.add_parser("run")
    r.add_argument("--work", required=True)
    r.add_argument("--test", required=True, help="ADDR:PORT of the resolver under test")
    r.add_argument("--ref", required=True, help="ADDR:PORT of the reference resolver")
    r.add_argument("--test-label", default="hanse")
    r.add_argument("--ref-label", default="unbound")
    r.add_argument("--report", required=True)
    r.add_argument("--meta")
    r.add_argument("--concurrency", type=int, default=50)
    r.add_argument("--timeout", type=float, default=3.0, help="per try, seconds")
    r.add_argument("--tries", type=int, default=2)
    r.add_argument("--time-limit", type=float, default=100,
                   help="stop sending new questions after this many seconds")
    a = ap.parse_args()
    if a.cmd == "probe":
        sys.exit(asyncio.run(probe(a)))
    sys.exit(asyncio.run(run(a)))


if __name__ == "__main__":
    main()
