#!/usr/bin/env python3
"""Turn results/<ts>/results.jsonl into report.md (+ results.csv) and print the tables.

usage: report.py RESULTS_DIR
The main table has one column per resolver, so a new resolver is one more column.
"""
import csv
import json
import os
import statistics
import sys


def load(d):
    recs = []
    with open(os.path.join(d, "results.jsonl")) as f:
        for line in f:
            line = line.strip()
            if line:
                recs.append(json.loads(line))
    return recs


def f0(v):
    return "-" if v is None else f"{v:,.0f}"


def f1(v):
    return "-" if v is None else f"{v:.1f}"


def f3(v):
    return "-" if v is None else f"{v:.3f}"


def f2(v):
    return "-" if v is None else f"{v:.2f}"


def derived(r):
    c = r.get("completed") or 0
    if c:
        r["res_us_per_q"] = (r.get("res_cpu_s") or 0) * 1e6 / c
        if r.get("up_q") is not None:
            # exact: queries counted by the authoritative NSDs (nsd-control stats)
            r["upstream_per_q"] = r["up_q"] / c
        elif "udp_in" in r:
            # each answered client query = 2 UDP datagrams received (resolver + dnsperf),
            # each upstream query = 2 more (NSD + resolver); lost ones count once
            up = (r["udp_in"] - 2 * c - (r.get("lost") or 0)) / 2.0
            r["upstream_per_q"] = max(0.0, up / c)
        rt = r.get("runtime_s") or 0
        if rt:
            other = (r.get("busy_cpu_s") or 0) - (r.get("res_cpu_s") or 0) \
                - (r.get("auth_cpu_s") or 0) - (r.get("gen_cpu_s") or 0)
            r["other_cpu_pct"] = max(0.0, 100.0 * other / (rt * (os.cpu_count() or 1)))
    return r


def aggregate(reps):
    """Median over repetitions (hit runs are repeated); keeps min/max QPS and summed losses."""
    if len(reps) == 1:
        return reps[0]
    out = dict(reps[0])
    for k, v in reps[0].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("threads", "rep"):
            vals = [r.get(k) for r in reps if isinstance(r.get(k), (int, float))]
            if vals:
                out[k] = statistics.median(vals)
    out["lost"] = sum(r.get("lost") or 0 for r in reps)
    q = [r.get("qps") or 0 for r in reps]
    out["qps_min"], out["qps_max"], out["reps"] = min(q), max(q), len(reps)
    return out


def qps_cell(r):
    if r.get("reps"):
        return f"{f0(r.get('qps'))} ({f0(r['qps_min'])}-{f0(r['qps_max'])})"
    return f0(r.get("qps"))


SUBJECT = "hanse"
FLOOR = "floor"
HIGHER_IS_BETTER = {"qps", "noerror_pct"}


def ratio(num, den):
    if num is None or den is None or den == 0:
        return "-"
    return f"{num / den:.2f}"


def main_table(names, modes, idx, sanity, latwl, encwl=()):
    """One line per mode x workload x metric, one column per resolver, then
    Hanse's ratio to the best peer (the best value among the other
    resolvers, floor excluded: highest QPS / NOERROR, lowest otherwise) and,
    on cache hits, to the floor."""
    # Hanse's own variants (hanse-filtered, …) are not peers.
    peers = [n for n in names if n not in (SUBJECT, FLOOR) and not n.startswith(SUBJECT + "-")]
    # (workload, label, key, formatter)
    rows = [
        ("miss", "QPS", "qps", f0),
        ("miss", "resolver CPU µs/query", "res_us_per_q", f1),
        ("miss", "p50 latency ms", "p50_ms", f3),
        ("miss", "p99 latency ms", "p99_ms", f3),
        ("miss", "answered", "completed", f0),
        ("miss", "lost queries", "lost", f0),
        ("miss", "NOERROR %", "noerror_pct", f2),
        ("miss", "upstream queries per query", "upstream_per_q", f2),
        ("miss", "resident memory MB after", "res_rss_mb", f0),
        ("hit", "QPS (median of runs)", "qps", f0),
        ("hit", "resolver CPU µs/query", "res_us_per_q", f2),
        ("hit", "p50 latency ms", "p50_ms", f3),
        ("hit", "p99 latency ms", "p99_ms", f3),
        ("hit", "lost queries", "lost", f0),
        ("hit", "resident memory MB", "res_rss_mb", f0),
    ]
    for wl in encwl:
        rows += [(wl, "QPS (median of runs)", "qps", f0),
                 (wl, "resolver CPU µs/query", "res_us_per_q", f2),
                 (wl, "p50 latency ms", "p50_ms", f3), (wl, "p99 latency ms", "p99_ms", f3),
                 (wl, "lost queries", "lost", f0)]
    for wl in latwl:
        rows += [(wl, "p50 latency ms", "p50_ms", f3), (wl, "p99 latency ms", "p99_ms", f3),
                 (wl, "resolver CPU µs/query", "res_us_per_q", f1), (wl, "lost queries", "lost", f0)]
    out = ["| threads, validation | workload | metric | " + " | ".join(names)
           + " | Hanse ÷ best peer | Hanse ÷ floor |",
           "|---|---|---|" + "---|" * (len(names) + 2)]
    for (t, dn) in modes:
        mlabel = f"{t}, {dn}"
        for (wl, label, key, fmt) in rows:
            if not any(idx.get((n, t, dn, wl)) for n in names):
                continue
            cells = []
            for n in names:
                r = idx.get((n, t, dn, wl))
                if r is None:
                    cells.append("n/a")
                elif key == "qps" and r.get("reps") and r["reps"] > 1:
                    cells.append(qps_cell(r))
                else:
                    v = r.get(key)
                    cell = fmt(v)
                    if key == "completed" and r.get("ended") == "time limit":
                        cell += " (time limit)"
                    cells.append(cell)
            mine = idx.get((SUBJECT, t, dn, wl), {}).get(key) if idx.get((SUBJECT, t, dn, wl)) else None
            pv = [idx[(n, t, dn, wl)].get(key) for n in peers if idx.get((n, t, dn, wl))]
            pv = [v for v in pv if isinstance(v, (int, float))]
            best = (max(pv) if key in HIGHER_IS_BETTER else min(pv)) if pv else None
            skip = key in ("completed", "lost")   # counts: ratios say nothing
            r_peer = "-" if skip else ratio(mine, best)
            fl = idx.get((FLOOR, t, dn, wl))
            r_floor = ratio(mine, fl.get(key)) if fl and not skip and key in ("res_us_per_q", "qps") else "-"
            out.append(f"| {mlabel} | {wl} | {label} | " + " | ".join(cells) + f" | {r_peer} | {r_floor} |")
        cells = [str(sanity.get((n, t, dn), "-")) for n in names]
        out.append(f"| {mlabel} | check | answer / AD / bogus | " + " | ".join(cells) + " | | |")
    return out


def memory_table(recs):
    mem = [r for r in recs if r.get("workload") == "memory"]
    if not mem:
        return []
    base = next((r for r in mem if r["resolver"] == "pdns"), None)
    out = ["| resolver | RRsets cached (NOERROR answers) | fill QPS | lost | RSS before MB | RSS after MB "
           "| bytes per RRset | recheck: upstream queries per query | ÷ PowerDNS Recursor |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in mem:
        out.append(f"| {r['resolver']} | {f0(r['cached'])}{' (time limit)' if r.get('fill_ended') == 'time limit' else ''} "
                   f"| {f0(r.get('fill_qps'))} | {f0(r.get('fill_lost'))} | {r['rss0_kb'] / 1024:,.0f} | {r['rss1_kb'] / 1024:,.0f} "
                   f"| {f0(r.get('bytes_per_rrset'))} | {f2(r.get('recheck_upstream_per_q'))} "
                   f"| {ratio(r.get('bytes_per_rrset'), base.get('bytes_per_rrset')) if base else '-'} |")
    return out


def main():
    d = sys.argv[1]
    recs = [derived(r) for r in load(d)]
    runs = [r for r in recs if r.get("workload") not in ("sanity", "start", "memory")]
    sanity = {(r["resolver"], r["threads"], r["dnssec"]): r.get("sanity") for r in recs
              if r.get("workload") == "sanity"}
    errors = [r for r in recs if r.get("workload") == "start"]
    calib = [r for r in runs if str(r.get("resolver", "")).startswith("nsd-direct")]
    runs = [r for r in runs if r not in calib]

    names = []
    for r in runs + errors:
        if r["resolver"] not in names:
            names.append(r["resolver"])
    modes = []
    for r in runs + errors:
        m = (r["threads"], r["dnssec"])
        if m not in modes:
            modes.append(m)
    groups = {}
    for r in runs:
        groups.setdefault((r["resolver"], r["threads"], r["dnssec"], r["workload"]), []).append(r)
    idx = {k: aggregate(v) for k, v in groups.items()}
    latwl = sorted({r["workload"] for r in runs if "@" in r["workload"]})
    # cache hits over DoT and DoH (run.sh --transports): "hit-dot", "hit-doh"
    encwl = sorted({r["workload"] for r in runs
                    if r["workload"].startswith("hit-") and "@" not in r["workload"]})

    table = "\n".join(main_table(names, modes, idx, sanity, latwl, encwl))

    long_rows = []
    hdr = ["resolver", "threads", "dnssec", "workload", "rep", "qps", "avg_lat_ms", "p50_ms", "p90_ms",
           "p99_ms", "p999_ms", "max_ms", "sent", "completed", "lost", "noerror_pct", "runtime_s",
           "res_cpu_s", "res_us_per_q", "auth_cpu_s", "gen_cpu_s", "busy_cpu_s", "other_cpu_pct",
           "upstream_per_q", "up_q", "up_A", "up_AAAA", "up_NS", "up_DS", "up_DNSKEY", "up_tcp",
           "udp_rcvbuf_err", "res_rss_mb"]
    for r in calib + runs:
        long_rows.append([r.get(h) for h in hdr])
    with open(os.path.join(d, "results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(hdr)
        w.writerows(long_rows)

    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 100 else f"{v:,.0f}"
        return "-" if v is None else str(v)
    lt = ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    for row in long_rows:
        lt.append("| " + " | ".join(fmt(v) for v in row) + " |")

    ver = open(os.path.join(d, "versions.txt")).read() if os.path.exists(os.path.join(d, "versions.txt")) else ""
    md = ["# Resolver benchmark run " + os.path.basename(os.path.abspath(d)), "", "```", ver.strip(), "```", ""]
    if calib:
        c = aggregate(calib)
        md += [f"Load-generator ceiling (dnsperf -> NSD directly, same pinning, hit set): "
               f"**{qps_cell(c)} QPS**, avg {c['avg_lat_ms']:.3f} ms, p99 {c['p99_ms']:.3f} ms.", ""]
    mt = "\n".join(memory_table(recs))
    md += ["## Summary (one column per resolver)", "", table, ""]
    if mt:
        md += ["## Memory per cached RRset", "", mt, ""]
    if errors:
        md += ["Errors: " + "; ".join(f"{e['resolver']} t{e['threads']} {e['dnssec']}: {e['error']}" for e in errors), ""]
    md += ["## All runs", "", "\n".join(lt), "",
           "other_cpu_pct (\"background CPU\"): CPU used on the machine during the run by processes "
           "outside this benchmark (busy - resolver - NSD - dnsperf), % of both cores; approximate "
           "(tick-sampled accounting).  upstream_per_q / up_*: queries received by the three "
           "authoritative NSD instances during the run (nsd-control stats), per answered query.", ""]
    cmds = os.path.join(d, "commands.txt")
    if os.path.exists(cmds):
        md += ["## Command lines", "", "```", open(cmds).read().strip(), "```", ""]
    with open(os.path.join(d, "report.md"), "w") as f:
        f.write("\n".join(md))
    if calib:
        print(f"load-generator ceiling (dnsperf -> NSD direct): {qps_cell(aggregate(calib))} QPS")
    print(table)
    if mt:
        print()
        print(mt)


if __name__ == "__main__":
    main()
