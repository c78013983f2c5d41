#!/usr/bin/env python3
"""Ask BIND 9 and Hanse the RPZ cases of gen_rpz.py and compare the answers.

Python 3 standard library only; DNS messages are built and parsed by
bench/compare/dnscompare.py.  Each case is asked of both resolvers from the
case's client address (a 127.0.58.x source address, for CLIENT-IP triggers),
over UDP with EDNS, then over TCP if the UDP answer was truncated.

  rpzcompare.py ready --cases FILE --server ADDR:PORT [--timeout S]
      exit 0 once the server answers every policy zone's load-check name
  rpzcompare.py run --cases FILE --bind ADDR:PORT --hanse ADDR:PORT --report FILE

Per case, compared: the outcome (an answer, no answer at all = DROP, TC over
UDP), the rcode, and the answer section as RRsets (owner, type, set of rdata;
TTLs and order ignored).  Local data is in the answer section, so it is
compared there.  The authority section is not compared (whether the policy
zone's SOA is there is reported).  Both answers are also held to what the
draft asks for (the case's expectation), so two resolvers that ignore the
policy alike cannot pass.  A case with a documented known difference counts
as known, not as a mismatch, as long as each resolver gives the answer the
documentation describes.
"""
import argparse
import concurrent.futures
import json
import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compare"))
import dnscompare  # noqa: E402  (bench/compare/dnscompare.py)

UDP_TIMEOUT = 2.0
DROP_TIMEOUT = 2.5


def exchange(server, source, wire, tcp, timeout):
    addr, port = server
    kind = socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        s.settimeout(timeout)
        s.bind((source, 0))
        if tcp:
            s.connect((addr, port))
            s.sendall(struct.pack("!H", len(wire)) + wire)
            head = b""
            while len(head) < 2:
                chunk = s.recv(2 - len(head))
                if not chunk:
                    raise OSError("connection closed")
                head += chunk
            n, data = struct.unpack("!H", head)[0], b""
            while len(data) < n:
                chunk = s.recv(n - len(data))
                if not chunk:
                    raise OSError("connection closed")
                data += chunk
            return data
        s.sendto(wire, (addr, port))
        end = time.monotonic() + timeout
        while True:
            s.settimeout(max(0.01, end - time.monotonic()))
            data, peer = s.recvfrom(65535)
            if peer == (addr, port):
                return data


def ask(server, case, tries=2):
    """-> {"outcome": answer|drop|error, "tc": bool, "rcode", "answer", "soa"}."""
    drop = case["outcome"] == "drop"
    result = {"outcome": "drop", "tc": False, "rcode": "DROP", "answer": {}, "soa": None}
    for _ in range(1 if drop else tries):
        qid = random.randrange(65536)
        wire = dnscompare.build_query(qid, case["qname"], case["qtype"])
        try:
            resp = dnscompare.parse_response(
                exchange(server, case["client"], wire, False, DROP_TIMEOUT if drop else UDP_TIMEOUT))
            tc = resp["tc"]
            if tc:
                resp = dnscompare.parse_response(
                    exchange(server, case["client"], wire, True, UDP_TIMEOUT))
            if resp["id"] != qid:
                raise dnscompare.ParseError("wrong ID")
            soa = [n for (n, t, _ttl, _rd) in resp["authority"] if t == "SOA"]
            return {"outcome": "answer", "tc": tc, "rcode": resp["rcode"],
                    "answer": dnscompare.rrsets(resp["answer"]), "soa": soa[0] if soa else None}
        except socket.timeout:
            continue
        except (OSError, dnscompare.ParseError, struct.error) as e:
            result = {"outcome": "error", "tc": False, "rcode": f"ERROR {e}", "answer": {},
                      "soa": None}
    return result


def summary(r):
    if r["outcome"] != "answer":
        return r["rcode"]
    parts = [("TC/TCP " if r["tc"] else "") + r["rcode"]]
    for key, rdata in r["answer"].items():
        owner, rtype = key.rsplit(" ", 1)
        parts.append(f"{owner.split('.')[0]}..{rtype} {','.join(rdata)}")
    return " ".join(parts)


def shape(r):
    return (r["outcome"], r["tc"], r["rcode"], json.dumps(r["answer"], sort_keys=True))


def expected(case):
    e = case["expect"]
    if case["outcome"] == "drop":
        return ("drop", False, "DROP", "{}")
    return ("answer", case["outcome"] == "tcp-only", e["rcode"],
            json.dumps(e["answer"], sort_keys=True))


def judge(case, bind, hanse):
    """-> (status, problems).  status: match | known | MISMATCH."""
    want, b, h = expected(case), shape(bind), shape(hanse)
    known = case.get("known_difference")
    if known:
        ok_b = b == tuple(known["bind"]) if "bind" in known else b == want
        ok_h = h == tuple(known["hanse"]) if "hanse" in known else h == want
        if ok_b and ok_h and b != h:
            return "known", [known["reason"]]
    problems = []
    if b != h:
        problems.append("BIND and Hanse differ")
    if b != want:
        problems.append("BIND differs from the draft's answer")
    if h != want:
        problems.append("Hanse differs from the draft's answer")
    return ("match" if not problems else "MISMATCH"), problems


def load(path):
    with open(path) as f:
        return json.load(f)


def parse_server(text):
    addr, port = text.rsplit(":", 1)
    return addr, int(port)


def ready(args):
    spec = load(args.cases)
    server = parse_server(args.server)
    deadline = time.monotonic() + args.timeout
    names = [spec["ready_name"].format(pz.split(".")[0]) for pz in spec["policy_zones"]]
    while time.monotonic() < deadline:
        ok = 0
        for name in names:
            r = ask(server, {"qname": name, "qtype": "TXT", "client": "127.0.0.1",
                             "outcome": "answer"}, tries=1)
            ok += bool(r["answer"])
        if ok == len(names):
            return 0
        time.sleep(0.3)
    print(f"rpzcompare: {args.server} did not answer the load-check names {names}",
          file=sys.stderr)
    return 1


def run(args):
    spec = load(args.cases)
    cases = spec["cases"]
    bind, hanse = parse_server(args.bind), parse_server(args.hanse)
    known_path = args.known
    known = load(known_path) if known_path and os.path.exists(known_path) else {}
    for c in cases:
        c["known_difference"] = known.get(c["desc"])
    t0 = time.monotonic()
    results = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for c in cases:
            fb, fh = pool.submit(ask, bind, c), pool.submit(ask, hanse, c)
            results.append((c, fb.result(), fh.result()))
    elapsed = time.monotonic() - t0

    counts = {"match": 0, "known": 0, "MISMATCH": 0}
    rows, report = [], []
    for c, b, h in results:
        status, problems = judge(c, b, h)
        counts[status] += 1
        rows.append((c["id"], c["desc"], c["qname"] + " " + c["qtype"]
                     + ("" if c["client"].endswith(".1") else f" from {c['client']}"),
                     summary(b), summary(h), status))
        report.append({"case": c, "bind": b, "hanse": h, "status": status,
                       "problems": problems})
    width = max(len(r[1]) for r in rows)
    print(f"{'#':>3}  {'case':<{width}}  question / BIND / Hanse")
    for (i, desc, q, sb, sh, status) in rows:
        print(f"{i:>3}  {desc:<{width}}  {q}\n     {'':<{width}}  BIND:  {sb}\n"
              f"     {'':<{width}}  Hanse: {sh}   -> {status}")
    negative = [x for x in report if x["bind"]["outcome"] == "answer" and not x["bind"]["answer"]]
    soa_b = sum(1 for x in negative if x["bind"]["soa"])
    soa_h = sum(1 for x in negative if x["hanse"]["soa"])
    print(f"rpz-compare: {len(cases)} cases, {counts['match']} match, {counts['known']} known "
          f"differences, {counts['MISMATCH']} mismatched ({elapsed:.1f} s)")
    print(f"rpz-compare: authority SOA (not compared) in {len(negative)} answers without data: "
          f"BIND {soa_b}, Hanse {soa_h}")
    for x in report:
        if x["status"] != "match":
            print(f"  {x['status']} #{x['case']['id']} {x['case']['desc']}: "
                  + "; ".join(x["problems"]))
    os.makedirs(os.path.dirname(os.path.abspath(args.report)), exist_ok=True)
    with open(args.report, "w") as f:
        json.dump({"cases": len(cases), "counts": counts, "elapsed_s": round(elapsed, 2),
                   "bind_label": args.bind_label, "results": report}, f, indent=1)
    print(f"rpz-compare: report {args.report}")
    return 0 if counts["MISMATCH"] == 0 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ready")
    p.add_argument("--cases", required=True)
    p.add_argument("--server", required=True)
    p.add_argument("--timeout", type=float, default=30)
    r = sub.add_parser("run")
    r.add_argument("--cases", required=True)
    r.add_argument("--bind", required=True)
    r.add_argument("--hanse", required=True)
    r.add_argument("--known", help="JSON: case description -> documented known difference")
    r.add_argument("--bind-label", default="BIND 9")
    r.add_argument("--report", required=True)
    a = ap.parse_args()
    sys.exit(ready(a) if a.cmd == "ready" else run(a))


if __name__ == "__main__":
    main()
