#!/usr/bin/env python3
"""Generate the synthetic DNS hierarchy for the Hanse/Unbound comparison.

Python 3 standard library only.  Writes into --out:

  zones/*.zone          zone files (root, TLDs, second-level zones)
  nsd/<inst>/nsd.conf   one NSD instance per group of zones (root, tld, slda, sldb)
  root.hints            root hints for the resolvers
  questions.json        the questions, with category and expected rcode
  ttls.json             the zone TTL of every RRset (owner/type), wildcards and DNAMEs
  meta.json             addresses of the NSD instances, counts

Hierarchy (all addresses in NET.0.0/16, NET defaults to 127.57):

  .                      root, NSD instance "root" on NET.0.1   (ns1.rootns.)
  alpha. beta. ...       TLDs, instance "tld" on NET.0.11, .12, ...
  zNNNN.<tld>.           second-level zones, split across instances "slda"
                         (NET.1.1-4) and "sldb" (NET.2.1-4); kinds:
                           glue     - NS ns1/ns2.<zone>, glue in the TLD zone
                           glueless - NS ns1/ns2.dns-a|dns-b.<another tld>, no glue
                           sibling  - NS ns1.<another zone of the same TLD>
  dns-a.<tld>, dns-b.<tld>  "provider" zones naming the slda / sldb addresses

Separate NSD instances are needed per level: NSD answers from the most specific
zone it holds whatever address the query arrived on, so one instance serving a
parent and its child would skip the delegation.
"""
import argparse
import json
import os
import random
import shutil

TTLS = [1, 30, 60, 300, 900, 3600, 7200, 86400]
NEG_TTLS = [5, 30, 300, 900, 3600]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--names", type=int, default=3000, help="number of questions")
    ap.add_argument("--zones", type=int, default=2400, help="second-level zones in total")
    ap.add_argument("--tlds", default="alpha beta gamma delta")
    ap.add_argument("--net", default="127.57", help="first two octets of the address block")
    ap.add_argument("--seed", type=int, default=20261122)
    a = ap.parse_args()

    rnd = random.Random(a.seed)
    out = os.path.abspath(a.out)
    for d in ("zones", "nsd"):
        shutil.rmtree(os.path.join(out, d), ignore_errors=True)
        os.makedirs(os.path.join(out, d))
    net = a.net
    tlds = a.tlds.split()
    if len(tlds) < 2:
        raise SystemExit("need at least two TLDs (glueless zones use another TLD's hosts)")
    root_addr = f"{net}.0.1"
    tld_addr = {t: f"{net}.0.{11 + i}" for i, t in enumerate(tlds)}
    inst_addrs = {"slda": [f"{net}.1.{i}" for i in range(1, 5)],
                  "sldb": [f"{net}.2.{i}" for i in range(1, 5)]}

    ttl_of = {}        # "owner|TYPE" -> zone TTL
    wild_ttl = {}      # "*.suffix|TYPE" -> TTL
    dname_ttl = {}     # owner -> TTL of the DNAME (synthesised CNAMEs carry it)

    def rr(lines, owner, ttl, rtype, rdata):
        lines.append(f"{owner} {ttl} IN {rtype} {rdata}\n")
        key = f"{owner.lower()}|{rtype}"
        if owner.startswith("*."):
            wild_ttl[key] = ttl
        elif rtype == "DNAME":
            dname_ttl[owner.lower()] = ttl
        else:
            # one TTL per RRset: the generator always uses the same TTL within an RRset
            ttl_of[key] = ttl

    def soa(lines, origin, ttl, neg):
        rr(lines, origin, ttl, "SOA", f"ns1.{origin if origin != '.' else 'rootns.'} "
           f"hostmaster.{origin if origin != '.' else 'rootns.'} 2026112201 3600 900 604800 {neg}")

    # ------------------------------------------------------------ zone table
    zones = []  # dicts: origin, tld, inst, kind, index
    per_tld = max(1, a.zones // len(tlds))
    for ti, t in enumerate(tlds):
        for k in range(per_tld):
            inst = "slda" if (k + ti) % 2 == 0 else "sldb"
            r = rnd.random()
            kind = "glue" if r < 0.6 else ("glueless" if r < 0.85 else "sibling")
            zones.append({"origin": f"z{k:04d}.{t}.", "tld": t, "inst": inst, "kind": kind,
                          "k": k})
    # a sibling needs a glue zone of the same TLD on the same instance to borrow from
    glue_by = {}
    for z in zones:
        if z["kind"] == "glue":
            glue_by.setdefault((z["tld"], z["inst"]), []).append(z)
    for z in zones:
        if z["kind"] == "sibling":
            cands = glue_by.get((z["tld"], z["inst"]), [])
            if not cands:
                z["kind"] = "glue"
                continue
            z["via"] = rnd.choice(cands)
    for z in zones:
        if z["kind"] == "glue":
            addrs = inst_addrs[z["inst"]]
            z["ns"] = [(f"ns1.{z['origin']}", addrs[z["k"] % 4]),
                       (f"ns2.{z['origin']}", addrs[(z["k"] + 1) % 4])]
    for z in zones:
        if z["kind"] == "glue":
            pass
        elif z["kind"] == "sibling":
            z["ns"] = [z["via"]["ns"][0]]
        else:
            other = tlds[(tlds.index(z["tld"]) + 1 + z["k"] % (len(tlds) - 1)) % len(tlds)]
            prov = "dns-a" if z["inst"] == "slda" else "dns-b"
            addrs = inst_addrs[z["inst"]]
            z["ns"] = [(f"ns1.{prov}.{other}.", addrs[0]), (f"ns2.{prov}.{other}.", addrs[1])]
            z["glueless_via"] = f"{prov}.{other}."
    # provider zones (glued) hosting the glueless zones' nameserver names
    providers = []
    for t in tlds:
        for prov, inst in (("dns-a", "slda"), ("dns-b", "sldb")):
            addrs = inst_addrs[inst]
            providers.append({"origin": f"{prov}.{t}.", "tld": t, "inst": inst,
                              "ns": [(f"ns1.{prov}.{t}.", addrs[0]),
                                     (f"ns2.{prov}.{t}.", addrs[1])]})
    glue_zones = [z for z in zones if z["kind"] == "glue"]
    # a few zones carry a DNAME to another zone (possibly in another TLD)
    for i, z in enumerate(zones):
        if i % 40 == 7:
            tgt = rnd.choice(glue_zones)
            if tgt is not z:
                z["dname"] = tgt["origin"]

    files = {}  # origin -> path

    def write_zone(origin, lines):
        name = "root" if origin == "." else origin[:-1]
        path = os.path.join(out, "zones", name + ".zone")
        with open(path, "w") as f:
            f.write(f"$ORIGIN {origin}\n")
            f.writelines(lines)
        files[origin] = path

    # ------------------------------------------------------------ SLD zones
    for z in zones:
        o = z["origin"]
        zttl = rnd.choice(TTLS)
        lines = []
        soa(lines, o, rnd.choice([300, 3600]), rnd.choice(NEG_TTLS))
        for (nsname, _addr) in z["ns"]:
            rr(lines, o, 3600, "NS", nsname)
        if z["kind"] == "glue":
            for (nsname, addr) in z["ns"]:
                rr(lines, nsname, 3600, "A", addr)
        ttl = rnd.choice(TTLS)
        n_a = rnd.randint(1, 3)
        ip_base = f"10.{z['k'] % 200}.{tlds.index(z['tld'])}"
        for i in range(n_a):
            rr(lines, f"www.{o}", ttl, "A", f"{ip_base}.{i + 1}")
        ttl = rnd.choice(TTLS)
        rr(lines, f"www.{o}", ttl, "AAAA", f"fd57:{z['k']:x}::{tlds.index(z['tld']) + 1:x}")
        rr(lines, f"mail.{o}", rnd.choice(TTLS), "A", f"{ip_base}.25")
        ttl = rnd.choice(TTLS)
        rr(lines, o, ttl, "MX", f"10 mail.{o}")
        rr(lines, o, ttl, "MX", f"20 mail.{rnd.choice(glue_zones)['origin']}")
        ttl = rnd.choice(TTLS)
        rr(lines, f"txt.{o}", ttl, "TXT", f'"v=hanse{z["k"]}" "zone {o}"')
        # CNAME chain inside the zone: cnK -> cn(K-1) -> ... -> cn1 -> www
        prev = f"www.{o}"
        for k in range(1, 5):
            rr(lines, f"cn{k}.{o}", rnd.choice(TTLS), "CNAME", prev)
            prev = f"cn{k}.{o}"
        # across zones (and TLDs): to www of another zone, to a chain in another zone,
        # and a dangling one (target does not exist)
        t1, t2, t3 = rnd.choice(zones), rnd.choice(zones), rnd.choice(zones)
        rr(lines, f"xc.{o}", rnd.choice(TTLS), "CNAME", f"www.{t1['origin']}")
        rr(lines, f"xc2.{o}", rnd.choice(TTLS), "CNAME", f"cn{rnd.randint(1, 2)}.{t2['origin']}")
        rr(lines, f"dangling.{o}", rnd.choice(TTLS), "CNAME", f"gone.{t3['origin']}")
        rr(lines, f"nodatacn.{o}", rnd.choice(TTLS), "CNAME", f"txt.{t1['origin']}")
        # wildcard below "wild" (so "wild" itself is an empty non-terminal)
        ttl = rnd.choice(TTLS)
        rr(lines, f"*.wild.{o}", ttl, "A", f"{ip_base}.99")
        rr(lines, f"*.wild.{o}", rnd.choice(TTLS), "TXT", '"wildcard"')
        # empty non-terminals: b.ent and ent exist only as ancestors of a.b.ent
        rr(lines, f"a.b.ent.{o}", zttl, "A", f"{ip_base}.77")
        if "dname" in z:
            rr(lines, f"dn.{o}", rnd.choice(TTLS), "DNAME", z["dname"])
        write_zone(o, lines)

    for p in providers:
        lines = []
        soa(lines, p["origin"], 3600, 300)
        for (nsname, addr) in p["ns"]:
            rr(lines, p["origin"], 3600, "NS", nsname)
            rr(lines, nsname, 3600, "A", addr)
        write_zone(p["origin"], lines)

    # ------------------------------------------------------------ TLD zones
    for t in tlds:
        o = f"{t}."
        lines = []
        soa(lines, o, 3600, rnd.choice(NEG_TTLS))
        rr(lines, o, 86400, "NS", f"ns1.nic.{o}")
        rr(lines, f"ns1.nic.{o}", 86400, "A", tld_addr[t])
        for z in zones + providers:
            if z["tld"] != t:
                continue
            for (nsname, addr) in z["ns"]:
                lines.append(f"{z['origin']} 3600 IN NS {nsname}\n")
                if nsname.endswith("." + z["origin"]):       # glue only in bailiwick
                    lines.append(f"{nsname} 3600 IN A {addr}\n")
        write_zone(o, lines)

    # ------------------------------------------------------------ root zone
    lines = []
    soa(lines, ".", 86400, 3600)
    lines.append(". 518400 IN NS ns1.rootns.\n")
    lines.append(f"ns1.rootns. 518400 IN A {root_addr}\n")
    for t in tlds:
        lines.append(f"{t}. 172800 IN NS ns1.nic.{t}.\n")
        lines.append(f"ns1.nic.{t}. 172800 IN A {tld_addr[t]}\n")
    write_zone(".", lines)
    with open(os.path.join(out, "root.hints"), "w") as f:
        f.write(f".            3600000 IN NS ns1.rootns.\nns1.rootns.  3600000 IN A {root_addr}\n")

    # ------------------------------------------------------------ NSD instances
    instances = {"root": ([root_addr], ["."]),
                 "tld": ([tld_addr[t] for t in tlds], [f"{t}." for t in tlds])}
    for inst in ("slda", "sldb"):
        origins = [z["origin"] for z in zones + providers if z["inst"] == inst]
        instances[inst] = (inst_addrs[inst], origins)
    for inst, (addrs, origins) in instances.items():
        d = os.path.join(out, "nsd", inst)
        os.makedirs(d, exist_ok=True)
        cfg = ["server:\n"] + [f"  ip-address: {ad}\n" for ad in addrs]
        cfg += ["  port: 53\n", "  do-ip6: no\n", "  server-count: 1\n", "  reuseport: no\n",
                '  username: ""\n', '  chroot: ""\n', '  database: ""\n',
                f'  zonelistfile: "{d}/zone.list"\n', f'  xfrdfile: "{d}/xfrd.state"\n',
                f'  xfrdir: "{d}"\n', f'  pidfile: "{d}/nsd.pid"\n',
                f'  logfile: "{d}/nsd.log"\n', "  verbosity: 0\n",
                # all resolver traffic comes from 127.0.0.1: no response rate limiting
                "  rrl-ratelimit: 0\n", "  rrl-whitelist-ratelimit: 0\n",
                "  tcp-count: 100\n", "  zonefiles-check: no\n", "  zonefiles-write: 0\n",
                "remote-control:\n  control-enable: no\n"]
        for o in origins:
            cfg.append(f'zone:\n  name: "{o}"\n  zonefile: "{files[o]}"\n')
        with open(os.path.join(d, "nsd.conf"), "w") as f:
            f.writelines(cfg)

    # ------------------------------------------------------------ questions
    def label():
        return "q" + "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                             for _ in range(8))

    dname_zones = [z for z in zones if "dname" in z]
    by_kind = {k: [z for z in zones if z["kind"] == k] for k in ("glue", "glueless", "sibling")}

    def pick_zone():
        # spread the questions over the three delegation kinds
        r = rnd.random()
        kind = "glue" if r < 0.5 else ("glueless" if r < 0.8 else "sibling")
        return rnd.choice(by_kind[kind] or zones)

    # (category, weight, builder) ; builder(zone) -> (qname, qtype, expected rcode, answer?)
    cats = [
        ("a", 14, lambda o: (f"www.{o}", "A", "NOERROR", True)),
        ("aaaa", 6, lambda o: (f"www.{o}", "AAAA", "NOERROR", True)),
        ("mx", 5, lambda o: (o, "MX", "NOERROR", True)),
        ("txt", 5, lambda o: (f"txt.{o}", "TXT", "NOERROR", True)),
        ("ns", 2, lambda o: (o, "NS", "NOERROR", True)),
        ("soa", 1, lambda o: (o, "SOA", "NOERROR", True)),
        ("cname1", 4, lambda o: (f"cn1.{o}", "A", "NOERROR", True)),
        ("cname2", 4, lambda o: (f"cn2.{o}", "A", "NOERROR", True)),
        ("cname3", 3, lambda o: (f"cn3.{o}", "AAAA", "NOERROR", True)),
        ("cname4", 3, lambda o: (f"cn4.{o}", "A", "NOERROR", True)),
        ("cname-qtype", 1, lambda o: (f"cn2.{o}", "CNAME", "NOERROR", True)),
        ("cname-cross", 5, lambda o: (f"xc.{o}", "A", "NOERROR", True)),
        ("cname-cross-chain", 4, lambda o: (f"xc2.{o}", "A", "NOERROR", True)),
        ("cname-nxdomain", 3, lambda o: (f"dangling.{o}", "A", "NXDOMAIN", True)),
        ("cname-nodata", 2, lambda o: (f"nodatacn.{o}", "A", "NOERROR", True)),
        ("wildcard", 5, lambda o: (f"{label()}.wild.{o}", "A", "NOERROR", True)),
        ("wildcard-deep", 2, lambda o: (f"x.{label()}.wild.{o}", "TXT", "NOERROR", True)),
        ("wildcard-nodata", 2, lambda o: (f"{label()}.wild.{o}", "MX", "NOERROR", False)),
        ("ent", 3, lambda o: (f"b.ent.{o}", "A", "NOERROR", False)),
        ("ent-wild-parent", 1, lambda o: (f"wild.{o}", "A", "NOERROR", False)),
        ("nodata-txt", 3, lambda o: (f"www.{o}", "TXT", "NOERROR", False)),
        ("nodata-aaaa", 3, lambda o: (f"mail.{o}", "AAAA", "NOERROR", False)),
        ("nodata-mx", 2, lambda o: (f"txt.{o}", "MX", "NOERROR", False)),
        ("nxdomain", 7, lambda o: (f"{label()}.{o}", "A", "NXDOMAIN", False)),
        ("nxdomain-deep", 2, lambda o: (f"a.{label()}.ent.{o}", "A", "NXDOMAIN", False)),
        ("nx-delegation", 2, None),
        ("nx-tld", 1, None),
        ("dname", 3, None),
        ("dname-nx", 1, None),
    ]
    weights = [c[1] for c in cats]
    questions = []
    seen = set()
    tries = 0
    while len(questions) < a.names and tries < a.names * 20:
        tries += 1
        cat, _w, build = rnd.choices(cats, weights)[0]
        z = None
        if cat == "nx-delegation":
            qn, qt, rc, ans = f"www.{label()}.{rnd.choice(tlds)}.", "A", "NXDOMAIN", False
        elif cat == "nx-tld":
            qn, qt, rc, ans = f"www.{label()}.", "A", "NXDOMAIN", False
        elif cat in ("dname", "dname-nx"):
            if not dname_zones:
                continue
            z = rnd.choice(dname_zones)
            if cat == "dname":
                qn, qt, rc, ans = f"www.dn.{z['origin']}", rnd.choice(["A", "AAAA"]), \
                    "NOERROR", True
            else:
                qn, qt, rc, ans = f"{label()}.dn.{z['origin']}", "A", "NXDOMAIN", True
        else:
            z = pick_zone()
            qn, qt, rc, ans = build(z["origin"])
        if (qn, qt) in seen:
            continue
        seen.add((qn, qt))
        questions.append({"id": len(questions), "qname": qn, "qtype": qt, "category": cat,
                          "zone_kind": z["kind"] if z else None,
                          "expect_rcode": rc, "expect_answer": ans})

    with open(os.path.join(out, "questions.json"), "w") as f:
        json.dump(questions, f, indent=0)
    with open(os.path.join(out, "ttls.json"), "w") as f:
        json.dump({"rrsets": ttl_of, "wildcards": wild_ttl, "dnames": dname_ttl}, f)
    meta = {"root_addr": root_addr,
            "nsd": {k: {"addrs": v[0], "zones": len(v[1])} for k, v in instances.items()},
            "tlds": tlds, "slds": len(zones), "providers": len(providers),
            "kinds": {k: len(v) for k, v in by_kind.items()}, "dname_zones": len(dname_zones),
            "questions": len(questions), "seed": a.seed}
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"gen: 1 root, {len(tlds)} TLDs, {len(zones)} SLDs ({meta['kinds']}), "
          f"{len(providers)} provider zones, {len(dname_zones)} with DNAME; "
          f"{len(questions)} questions")


if __name__ == "__main__":
    main()
