#!/usr/bin/env python3
"""Policy zones and cases for the RPZ comparison of Hanse against BIND 9.

Python 3 standard library only.  Runs after bench/compare/gen.py has written a
hierarchy into --work; reads its zone files, adds four small "lab" zones to it
(nameservers of their own, for the NSDNAME and NSIP triggers), and writes:

  rpz/first.rpz, rpz/second.rpz   policy zones made for this hierarchy
  rpz/third.rpz                   adapted from BIND's rpz system test (test2),
                                  see LICENSE-MPL-2.0 in this directory
  cases.json                      the questions: name, type, client address,
                                  what the draft expects, known differences

Every trigger points at real names and addresses of the hierarchy; each case
uses zones of its own so that one case's triggers cannot touch another's.
Triggers (draft-ietf-dnsop-dns-rpz): QNAME exact and wildcard, CLIENT-IP,
RESPONSE-IP (IPv4, IPv6, prefixes), NSDNAME, NSIP.  Actions: NXDOMAIN,
NODATA, PASSTHRU (both forms), DROP, TCP-only, local data, CNAME to a walled
garden, the `CNAME *.target` rewrite.  Precedence: zone order, trigger kind
within a zone, exact before wildcard, longest prefix; CNAME chains.
"""
import argparse
import ipaddress
import json
import os
import re

POLICY_ZONES = ["first.rpz.", "second.rpz.", "third.rpz."]
READY_NAME = "ready-{}.rpz-check."          # local TXT per policy zone: load check
SOA = "@ 300 IN SOA ns.{0} hostmaster.{0} 1 3600 600 86400 60\n@ 300 IN NS localhost.\n"


class Hierarchy:
    """The records of the generated zones: (owner, TYPE) -> [rdata]."""

    def __init__(self, zone_dir):
        self.rr = {}
        self.origins = []
        for f in sorted(os.listdir(zone_dir)):
            origin = None
            with open(os.path.join(zone_dir, f)) as fh:
                for line in fh:
                    if line.startswith("$ORIGIN"):
                        origin = line.split()[1]
                        self.origins.append(origin)
                        continue
                    p = line.split(None, 4)
                    if len(p) == 5 and origin and p[0].lower().endswith(origin):
                        self.rr.setdefault((p[0].lower(), p[3]), []).append(p[4].strip())

    def get(self, owner, rtype):
        return list(self.rr.get((owner, rtype), []))

    def lookup(self, name, rtype):
        """(rcode, answer records) from the zone data: CNAMEs and wildcards."""
        answer, seen = [], set()
        while name not in seen and len(seen) < 10:
            seen.add(name)
            data, owner_used = self._find(name, rtype)
            cname, _ = self._find(name, "CNAME")
            if data:
                return "NOERROR", answer + [(name, rtype, d) for d in data]
            if cname and rtype != "CNAME":
                answer.append((name, "CNAME", cname[0].lower()))
                name = cname[0].lower()
                continue
            exists = any(o == name or o.endswith("." + name) for (o, _t) in self.rr) \
                or owner_used
            return ("NOERROR" if exists else "NXDOMAIN"), answer
        return "SERVFAIL", answer

    def _find(self, name, rtype):
        if (name, rtype) in self.rr:
            return self.rr[(name, rtype)], True
        labels = name.split(".")
        for i in range(1, len(labels) - 1):
            w = "*." + ".".join(labels[i:])
            if any(o == w for (o, _t) in self.rr):
                return self.rr.get((w, rtype), []), True
            if any(o == ".".join(labels[i:]) for (o, _t) in self.rr):
                break        # an existing name stops the wildcard search
        return [], False


def v4_trigger(prefix):
    n = ipaddress.ip_network(prefix, strict=True)
    return f"{n.prefixlen}." + ".".join(reversed(str(n.network_address).split(".")))


def v6_trigger(prefix):
    n = ipaddress.ip_network(prefix, strict=True)
    text = n.network_address.compressed
    if "::" in text:
        left, right = text.split("::")
        groups = (left.split(":") if left else []) + ["zz"] + (right.split(":") if right else [])
    else:
        groups = text.split(":")
    return f"{n.prefixlen}." + ".".join(reversed(groups))


def rrsets(records):
    """Same shape as dnscompare.rrsets: {"owner TYPE": sorted rdata}."""
    out = {}
    for (n, t, rd) in records:
        out.setdefault(f"{n} {t}", set()).add(norm(t, rd))
    return {k: sorted(v) for k, v in sorted(out.items())}


def norm(rtype, rd):
    if rtype == "AAAA":
        return str(ipaddress.IPv6Address(rd))
    if rtype in ("CNAME", "NS"):
        return rd.lower()
    return rd


def add_lab_zones(work, net, hier):
    """Zones with nameservers of their own: NSDNAME and NSIP triggers can name
    them without touching the rest of the hierarchy."""
    labs = [  # origin, NSD instance, address of ns1, TLD zone file
        ("nsip.beta.", "slda", f"{net}.1.5"),
        ("nsname.gamma.", "sldb", f"{net}.2.5"),
        ("both.alpha.", "slda", f"{net}.1.6"),
        ("clean.delta.", "sldb", f"{net}.2.6"),
    ]
    for origin, inst, addr in labs:
        tld = origin.split(".", 1)[1]
        ns = f"ns1.{origin}"
        body = (f"$ORIGIN {origin}\n{origin} 3600 IN SOA {ns} hostmaster.{origin} 1 3600 900 "
                f"604800 60\n{origin} 3600 IN NS {ns}\n{ns} 3600 IN A {addr}\n"
                f"www.{origin} 300 IN A 10.250.{labs.index((origin, inst, addr))}.1\n"
                f'www.{origin} 300 IN TXT "lab {origin}"\n'
                f"tonsname.{origin} 300 IN CNAME www.nsname.gamma.\n"
                f"tonsip.{origin} 300 IN CNAME www.nsip.beta.\n")
        path = os.path.join(work, "zones", origin[:-1] + ".zone")
        with open(path, "w") as f:
            f.write(body)
        with open(os.path.join(work, "zones", tld[:-1] + ".zone"), "a") as f:
            f.write(f"{origin} 3600 IN NS {ns}\n{ns} 3600 IN A {addr}\n")
        conf = os.path.join(work, "nsd", inst, "nsd.conf")
        with open(conf) as f:
            text = f.read()
        text = text.replace("server:\n", f"server:\n  ip-address: {addr}\n", 1)
        text += f'zone:\n  name: "{origin}"\n  zonefile: "{path}"\n'
        with open(conf, "w") as f:
            f.write(text)
    return Hierarchy(os.path.join(work, "zones"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--net", default="127.58")
    ap.add_argument("--client-net", default="127.0.58", help="first three octets of clients")
    a = ap.parse_args()
    net, cnet = a.net, a.client_net
    hier = add_lab_zones(a.work, net, Hierarchy(os.path.join(a.work, "zones")))

    # second-level zones in a fixed order; each case takes the zones it needs
    slds = sorted((o for o in hier.origins if re.match(r"^z\d{4}\.", o)),
                  key=lambda o: (o.split(".")[0], o))
    pool = iter(slds)
    multi = [o for o in slds if len(hier.get(f"www.{o}", "A")) >= 2]
    used_multi = iter(multi[::-1])

    def take(need_multi=False, tld=None):
        while True:
            z = next(used_multi) if need_multi else next(pool)
            if tld and not z.endswith(f".{tld}."):
                taken.add(z)        # skipped zones stay unused
                continue
            if z not in taken:
                taken.add(z)
                return z
    taken = set()

    zones = {z: [] for z in POLICY_ZONES}
    cases = []
    client = f"{cnet}.1"

    def rule(pz, owner, rtype, rdata):
        zones[pz].append(f"{owner.rstrip('.')}.{pz} 300 IN {rtype} {rdata}\n")

    def case(desc, qname, qtype, rcode, answer=None, src=None, outcome="answer", known=None):
        """answer: list of (owner, type, rdata) the draft asks for; None = no data."""
        cases.append({"id": len(cases) + 1, "desc": desc, "qname": qname, "qtype": qtype,
                      "client": src or client, "outcome": outcome,
                      "expect": {"rcode": rcode, "answer": rrsets(answer or [])},
                      "known_difference": known})

    def real(qname, qtype, desc, src=None):
        rc, ans = hier.lookup(qname, qtype)
        case(desc, qname, qtype, rc, ans, src=src)

    F, S, T = POLICY_ZONES
    for pz in POLICY_ZONES:
        rule(pz, READY_NAME.format(pz.split(".")[0]), "TXT", f'"{pz} loaded"')

    # ---------------------------------------------------------------- controls
    z = take()
    real(f"www.{z}", "A", "control: no trigger, real A")
    case("control: no trigger, real NXDOMAIN", f"nosuch.{z}", "A", "NXDOMAIN")
    real(f"cn2.{z}", "A", "control: no trigger, real CNAME chain")

    # ---------------------------------------------------------------- QNAME actions
    z = take()
    rule(F, f"www.{z}", "CNAME", ".")
    case("QNAME exact, NXDOMAIN (CNAME .)", f"www.{z}", "A", "NXDOMAIN")
    g0 = f"www.{z}"
    z = take()
    rule(F, f"www.{z}", "CNAME", "*.")
    case("QNAME exact, NODATA (CNAME *.), A", f"www.{z}", "A", "NOERROR")
    case("QNAME exact, NODATA (CNAME *.), AAAA", f"www.{z}", "AAAA", "NOERROR")
    z = take()
    rule(F, f"www.{z}", "CNAME", "rpz-drop.")
    case("QNAME exact, DROP", f"www.{z}", "A", "DROP", outcome="drop")
    z = take()
    rule(F, f"www.{z}", "CNAME", "rpz-tcp-only.")
    rc, ans = hier.lookup(f"www.{z}", "A")
    case("QNAME exact, TCP-only: TC over UDP, real answer over TCP", f"www.{z}", "A", rc, ans,
         outcome="tcp-only")
    z = take()
    local_a = f"www.{z}"
    rule(F, f"www.{z}", "A", "192.0.2.7")
    case("QNAME local data A", f"www.{z}", "A", "NOERROR", [(f"www.{z}", "A", "192.0.2.7")])
    case("QNAME local data A, asked AAAA: NODATA", f"www.{z}", "AAAA", "NOERROR")
    z = take()
    for t, d in (("A", "192.0.2.8"), ("A", "192.0.2.9"), ("AAAA", "2001:db8::8"),
                 ("TXT", '"blocked by first.rpz"')):
        rule(F, f"txt.{z}", t, d)
    for t, d in (("A", ["192.0.2.8", "192.0.2.9"]), ("AAAA", ["2001:db8::8"]),
                 ("TXT", ['"blocked by first.rpz"']), ("MX", [])):
        case(f"QNAME local data, several types, asked {t}", f"txt.{z}", t, "NOERROR",
             [(f"txt.{z}", t, x) for x in d])
    z, garden = take(), take()
    rule(F, f"www.{z}", "CNAME", f"www.{garden}")
    rc, ans = hier.lookup(f"www.{garden}", "A")
    case("QNAME CNAME to a walled garden, resolved", f"www.{z}", "A", rc,
         [(f"www.{z}", "CNAME", f"www.{garden}")] + ans)
    z, wild = take(), take()
    rule(F, f"*.wild.{z}", "CNAME", f"*.wild.{wild}")
    q = f"abc.wild.{z}"
    rc, ans = hier.lookup(f"{q}wild.{wild}", "A")
    case("QNAME wildcard, CNAME *.target rewrite", q, "A", rc,
         [(q, "CNAME", f"{q}wild.{wild}")] + ans)
    z = take()
    rule(F, f"*.wild.{z}", "A", "192.0.2.13")
    case("QNAME wildcard local data", f"foo.wild.{z}", "A", "NOERROR",
         [(f"foo.wild.{z}", "A", "192.0.2.13")])
    z = take()
    rule(F, f"*.{z}", "CNAME", ".")
    case("QNAME wildcard NXDOMAIN, one label below", f"www.{z}", "A", "NXDOMAIN")
    case("QNAME wildcard NXDOMAIN, two labels below", f"x.wild.{z}", "TXT", "NXDOMAIN")
    real(z, "MX", "QNAME wildcard does not match its own parent (apex MX real)")
    z = take()
    rule(F, f"www.{z}", "CNAME", "rpz-passthru.")
    rule(F, f"*.{z}", "CNAME", ".")
    real(f"www.{z}", "A", "exact PASSTHRU beats wildcard NXDOMAIN in the same zone")
    case("... and the wildcard still applies to siblings", f"txt.{z}", "TXT", "NXDOMAIN")
    z = take()
    rule(F, f"www.{z}", "CNAME", f"www.{z}")           # the old PASSTHRU form
    rule(S, f"*.{z}", "CNAME", ".")
    real(f"www.{z}", "A", "PASSTHRU (CNAME to itself) in zone 1 beats NXDOMAIN in zone 2")
    case("... zone 2's wildcard applies where zone 1 has no rule", f"mail.{z}", "A", "NXDOMAIN")

    # ---------------------------------------------------------------- CLIENT-IP
    z = take()
    rule(F, v4_trigger(f"{cnet}.66/32") + ".rpz-client-ip", "CNAME", ".")
    case("CLIENT-IP /32 NXDOMAIN", f"www.{z}", "A", "NXDOMAIN", src=f"{cnet}.66")
    real(f"www.{z}", "A", "CLIENT-IP: another client gets the real answer")
    rule(F, v4_trigger(f"{cnet}.64/30") + ".rpz-client-ip", "A", "192.0.2.64")
    case("CLIENT-IP /30 local data, /32 NXDOMAIN is longer for .66", f"mail.{z}", "A",
         "NXDOMAIN", src=f"{cnet}.66")
    case("CLIENT-IP /30 local data", f"www.{z}", "A", "NOERROR",
         [(f"www.{z}", "A", "192.0.2.64")], src=f"{cnet}.67")
    case("CLIENT-IP local data, asked TXT: NODATA", f"txt.{z}", "TXT", "NOERROR",
         src=f"{cnet}.67")
    rule(S, v4_trigger(f"{cnet}.72/32") + ".rpz-client-ip", "CNAME", ".")
    case("zone 1 QNAME local data beats zone 2 CLIENT-IP", local_a, "A", "NOERROR",
         [(local_a, "A", "192.0.2.7")], src=f"{cnet}.72")
    z = take()
    rule(S, f"www.{z}", "A", "192.0.2.73")
    case("CLIENT-IP beats QNAME in the same zone", f"www.{z}", "A", "NXDOMAIN",
         src=f"{cnet}.72")
    case("... QNAME rule for other clients", f"www.{z}", "A", "NOERROR",
         [(f"www.{z}", "A", "192.0.2.73")])

    # ---------------------------------------------------------------- RESPONSE-IP
    z = take()
    addr = hier.get(f"www.{z}", "A")[0]
    rule(F, v4_trigger(f"{addr}/32") + ".rpz-ip", "CNAME", ".")
    case("RESPONSE-IP v4 /32, NXDOMAIN", f"www.{z}", "A", "NXDOMAIN")
    case("RESPONSE-IP at the end of a CNAME chain", f"cn2.{z}", "A", "NXDOMAIN",
         [(f"cn2.{z}", "CNAME", f"cn1.{z}"), (f"cn1.{z}", "CNAME", f"www.{z}")])
    real(f"www.{z}", "AAAA", "RESPONSE-IP v4 rule, AAAA answer untouched")
    z = take(need_multi=True)
    addrs = hier.get(f"www.{z}", "A")
    net24 = ipaddress.ip_network(addrs[0] + "/24", strict=False)
    rule(F, v4_trigger(str(net24)) + ".rpz-ip", "A", "192.0.2.16")
    rule(F, v4_trigger(f"{addrs[1]}/32") + ".rpz-ip", "CNAME", ".")
    case("RESPONSE-IP longest prefix: /32 NXDOMAIN beats /24 local data", f"www.{z}", "A",
         "NXDOMAIN")
    case("RESPONSE-IP /24 local data", f"mail.{z}", "A", "NOERROR",
         [(f"mail.{z}", "A", "192.0.2.16")])
    z = take()
    v6 = hier.get(f"www.{z}", "AAAA")[0]
    rule(F, v6_trigger(f"{v6}/128") + ".rpz-ip", "CNAME", "*.")
    case("RESPONSE-IP v6 /128, NODATA", f"www.{z}", "AAAA", "NOERROR")
    real(f"www.{z}", "A", "RESPONSE-IP v6 rule, A answer untouched")
    # fd57:K::T/126 with T = 4 (delta) covers no other zone's address
    z = take(tld="delta")
    v6 = hier.get(f"www.{z}", "AAAA")[0]
    rule(F, v6_trigger(str(ipaddress.ip_network(v6 + "/126", strict=False))) + ".rpz-ip",
         "AAAA", "2001:db8::18")
    case("RESPONSE-IP v6 /126, local data AAAA", f"www.{z}", "AAAA", "NOERROR",
         [(f"www.{z}", "AAAA", "2001:db8::18")])

    # ---------------------------------------------------------------- NSDNAME, NSIP
    rule(F, "ns1.nsname.gamma.rpz-nsdname", "CNAME", ".")
    case("NSDNAME, NXDOMAIN", "www.nsname.gamma.", "A", "NXDOMAIN")
    case("NSDNAME at the end of a CNAME chain from a clean zone", "tonsname.clean.delta.", "A",
         "NXDOMAIN", [("tonsname.clean.delta.", "CNAME", "www.nsname.gamma.")])
    rule(F, v4_trigger(f"{net}.1.5/32") + ".rpz-nsip", "A", "192.0.2.20")
    case("NSIP /32, local data A", "www.nsip.beta.", "A", "NOERROR",
         [("www.nsip.beta.", "A", "192.0.2.20")])
    case("NSIP local data, asked TXT: NODATA", "www.nsip.beta.", "TXT", "NOERROR")
    real("www.clean.delta.", "A", "NSDNAME/NSIP rules leave other zones alone")
    rule(S, "ns1.both.alpha.rpz-nsdname", "CNAME", "*.")
    rule(S, v4_trigger(f"{net}.1.6/32") + ".rpz-nsip", "CNAME", ".")
    case("NSDNAME (NODATA) beats NSIP (NXDOMAIN) in the same zone", "www.both.alpha.", "A",
         "NOERROR")

    # ---------------------------------------------------------------- precedence
    rule(S, g0, "A", "192.0.2.99")
    case("zone 1 NXDOMAIN beats zone 2 local data for the same name", g0, "AAAA", "NXDOMAIN")
    z = take()
    addr = hier.get(f"www.{z}", "A")[0]
    rule(F, v4_trigger(f"{addr}/32") + ".rpz-ip", "A", "192.0.2.21")
    rule(S, f"www.{z}", "CNAME", ".")
    case("zone 1 RESPONSE-IP beats zone 2 QNAME (zone order before trigger kind)",
         f"www.{z}", "A", "NOERROR", [(f"www.{z}", "A", "192.0.2.21")])
    z = take()
    addr = hier.get(f"www.{z}", "A")[0]
    rule(S, f"www.{z}", "CNAME", "*.")
    rule(S, v4_trigger(f"{addr}/32") + ".rpz-ip", "CNAME", ".")
    case("QNAME (NODATA) beats RESPONSE-IP (NXDOMAIN) in the same zone", f"www.{z}", "A",
         "NOERROR")

    # ---------------------------------------------------------------- CNAME chains
    z = take()
    rule(S, f"www.{z}", "CNAME", ".")
    case("CNAME chain in the hierarchy, QNAME NXDOMAIN on the last name", f"cn3.{z}", "A",
         "NXDOMAIN", [(f"cn3.{z}", "CNAME", f"cn2.{z}"), (f"cn2.{z}", "CNAME", f"cn1.{z}"),
                      (f"cn1.{z}", "CNAME", f"www.{z}")])
    z = take()
    target = hier.get(f"xc.{z}", "CNAME")[0].lower()
    while target.split(".", 1)[1] in taken:      # the target's zone must be untouched
        z = take()
        target = hier.get(f"xc.{z}", "CNAME")[0].lower()
    taken.add(target.split(".", 1)[1])
    rule(S, target.rstrip("."), "A", "192.0.2.25")
    case("CNAME across zones, local data at the target", f"xc.{z}", "A", "NOERROR",
         [(f"xc.{z}", "CNAME", target), (target, "A", "192.0.2.25")])
    z = take()
    rule(S, f"cn1.{z}", "CNAME", "rpz-passthru.")
    rule(S, f"www.{z}", "CNAME", ".")
    # PASSTHRU ends the policy check for the rest of the chain (BIND, Hanse)
    rc, ans = hier.lookup(f"cn2.{z}", "A")
    case("CNAME chain: PASSTHRU on a middle name stops the check (NXDOMAIN rule on the last)",
         f"cn2.{z}", "A", rc, ans)
    z = take()
    rule(S, f"cn1.{z}", "CNAME", ".")
    rule(F, f"www.{z}", "A", "192.0.2.27")
    case("CNAME chain: zone 2 hits an earlier name, zone 1 a later one", f"cn2.{z}", "A",
         "NXDOMAIN", [(f"cn2.{z}", "CNAME", f"cn1.{z}")])
    # the target of a policy CNAME is resolved without policy (BIND: policy
    # applies once per answer, not to the answer a policy made)
    z = take()
    rule(F, f"www.{z}", "CNAME", g0)
    rc, ans = hier.lookup(g0, "A")
    case("local-data CNAME whose target has a rule: the target is not checked again",
         f"www.{z}", "A", rc, [(f"www.{z}", "CNAME", g0)] + ans)

    # ---------------------------------------------------------------- third.rpz
    # Adapted from BIND 9's bin/tests/system/rpz/test2 (MPL-2.0): the same rule
    # shapes, moved from 192.168.x.y onto addresses of this hierarchy.
    third = []
    z = take()
    a1 = hier.get(f"www.{z}", "A")[0]
    third.append(f"{v4_trigger(a1 + '/32')}.rpz-ip 300 CNAME *.\n")
    case("third (BIND test2): RESPONSE-IP CNAME *.", f"www.{z}", "A", "NOERROR")
    z = take(need_multi=True)
    addrs = hier.get(f"www.{z}", "A")
    n24 = ipaddress.ip_network(addrs[0] + "/24", strict=False)
    third.append(f"{v4_trigger(str(n24))}.rpz-ip 300 CNAME .\n")
    third += [f"{v4_trigger(x + '/32')}.rpz-ip 300 CNAME "
              f"{v4_trigger(x + '/32')}.\n" for x in addrs]
    rc, ans = hier.lookup(f"www.{z}", "A")
    case("third (BIND test2): /32 PASSTHRU (CNAME to the trigger name) beats /24 NXDOMAIN",
         f"www.{z}", "A", rc, ans)
    case("third (BIND test2): /24 NXDOMAIN", f"mail.{z}", "A", "NXDOMAIN")
    z = take()
    a1 = hier.get(f"www.{z}", "A")[0]
    v6 = hier.get(f"www.{z}", "AAAA")[0]
    third.append(f"{v4_trigger(a1 + '/32')}.rpz-ip 300 A 127.0.0.1\n")
    third.append(f"{v6_trigger(v6 + '/128')}.rpz-ip 300 CNAME .\n")
    case("third (BIND test2): RESPONSE-IP local data A 127.0.0.1", f"www.{z}", "A", "NOERROR",
         [(f"www.{z}", "A", "127.0.0.1")])
    case("third (BIND test2): IPv6 RESPONSE-IP NXDOMAIN", f"www.{z}", "AAAA", "NXDOMAIN")
    z = take()
    third.append(f"{v4_trigger(cnet + '.69/32')}.rpz-client-ip 300 A 127.0.0.17\n")
    case("third (BIND test2): CLIENT-IP local data", f"www.{z}", "A", "NOERROR",
         [(f"www.{z}", "A", "127.0.0.17")], src=f"{cnet}.69")
    zones[T] += third

    out = os.path.join(a.work, "rpz")
    os.makedirs(out, exist_ok=True)
    for pz in POLICY_ZONES:
        head = f"$ORIGIN {pz}\n" + SOA.format(pz)
        if pz == T:
            head = ("; Adapted from BIND 9 bin/tests/system/rpz (test2), MPL-2.0: see\n"
                    "; bench/rpz-compare/LICENSE-MPL-2.0.  Addresses moved onto the\n"
                    "; synthetic hierarchy.\n") + head
        with open(os.path.join(out, pz[:-1].replace(".", "-") + ".zone"), "w") as f:
            f.write(head)
            f.writelines(zones[pz])
    with open(os.path.join(a.work, "cases.json"), "w") as f:
        json.dump({"policy_zones": POLICY_ZONES, "ready_name": READY_NAME, "cases": cases},
                  f, indent=1)
    print(f"gen_rpz: {len(cases)} cases, rules: " +
          ", ".join(f"{pz} {len(zones[pz])}" for pz in POLICY_ZONES))


if __name__ == "__main__":
    main()
