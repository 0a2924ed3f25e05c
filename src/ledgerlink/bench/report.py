"""The results table (terminal and Markdown), docs/benchmarks.md and the SVG chart."""

from __future__ import annotations

import html
from pathlib import Path

from ledgerlink.bench import narrative
from ledgerlink.bench.goals import (
    CEILING,
    GOAL_BATCH_MS_PER_ORDER,
    GOAL_BATCH_OVER_SINGLE,
    GOAL_BATCH_STATEMENTS,
    GOAL_CSV_PEAK_MB,
    GOAL_ORDERS_PER_S,
    GOAL_POST_OVER_GET,
    GOAL_SHARE,
    GOAL_SINGLE_STATEMENTS,
    GOAL_STORE_ANSWER_MS,
    GOAL_STORE_RATE,
)


def _f(x, digits: int = 0) -> str:
    if x is None:
        return "n/a"
    return f"{x:,.{digits}f}"


def rows(results: dict) -> list[tuple[str, str, str, str, str]]:
    """(benchmark, measure, result, goal, verdict)"""
    out = []
    c = results.get("ceiling")
    if c and "error" not in c:
        share = c["docs_per_min"] / CEILING
        w = c["window_s"]
        out.append(("1 ceiling", f"Ledgerlink documents/min (one company, {w:.0f} s window)",
                    f"{_f(c['docs_per_min'])} ({share:.0%} of {CEILING:,})", f">= {GOAL_SHARE:.0%} of {CEILING:,}",
                    "met" if share >= GOAL_SHARE else "NOT met"))
        out.append(("1 ceiling", "429 answers received (sandbox request log)", _f(c["requests_429"]), "0",
                    "met" if c["requests_429"] == 0 else "NOT met"))
        pq = c["python_quickbooks"]
        out.append(("1 ceiling", f"python-quickbooks sequential loop, documents/min ({pq['wall_s']:.0f} s)",
                    _f(pq["docs_per_min"]), "", ""))
        out.append(("1 ceiling", "ratio Ledgerlink / python-quickbooks", f"{c['ratio']:.1f}x", "", ""))
        out.append(("1 ceiling", "documents / duplicates / orders without a document",
                    f"{c['documents']:,} / {c['duplicate_documents']} / {c['orders_without_document']}",
                    "one each", "met" if not c["duplicate_documents"] and not c["orders_without_document"] else "NOT met"))
    o = results.get("overhead")
    if o and "error" not in o:
        for r in o["runs"]:
            ok = r["succeeded"] == r["orders"] and not r["duplicate_documents"] and not r["orders_without_document"]
            paths = r.get("paths", {})
            batch, single = paths.get("batch"), paths.get("single")
            e2e = batch["end_to_end_orders_per_s"] if batch else r["end_to_end_orders_per_s"]
            ratio = e2e / single["end_to_end_orders_per_s"] if batch and single else None
            met = e2e >= GOAL_ORDERS_PER_S and (ratio is None or ratio >= GOAL_BATCH_OVER_SINGLE)
            out.append(("2 overhead", f"{r['label']}: end to end orders/s, batch (single-order path; ratio)",
                        f"{_f(e2e)} ({_f(single['end_to_end_orders_per_s']) if single else 'n/a'}; "
                        f"{'n/a' if ratio is None else f'{ratio:.1f}x'})",
                        f">= {GOAL_ORDERS_PER_S:,} and >= {GOAL_BATCH_OVER_SINGLE}x",
                        ("met" if met else f"NOT met ({e2e / GOAL_ORDERS_PER_S:.0%} of {GOAL_ORDERS_PER_S:,}"
                         + ("" if ratio is None else f", {ratio:.1f}x") + ")") + ("" if ok else "; COUNTS WRONG")))
            out.append(("2 overhead", f"{r['label']}: ingest orders/s batch / single; push orders/s",
                        f"{_f(batch['ingest_orders_per_s']) if batch else 'n/a'} / "
                        f"{_f(single['ingest_orders_per_s']) if single else 'n/a'}; {_f(r['push_orders_per_s'])}",
                        "", ""))
        r0 = o["runs"][0]
        for name in ("batch", "single"):
            part = r0.get("paths", {}).get(name)
            if part:
                st = part["stage_cpu_ms_per_order"]
                out.append(("2 overhead", f"CPU ms/order, {name} ingest ({r0['label']}): "
                            + " / ".join(st), " / ".join(f"{v:.2f}" for v in st.values())
                            + f" = {part['cpu_ms_per_order']:.2f}", "", ""))
        cpu = r0["cpu_ms_per_order"]
        out.append(("2 overhead", f"CPU ms/order ({r0['label']}): worker / sandbox",
                    f"{cpu['worker']:.2f} / {cpu['sandbox']:.2f}", "", ""))
        for r in o["runs"][1:]:
            cpu = r["cpu_ms_per_order"]
            out.append(("2 overhead", f"CPU ms/order ({r['label']}): worker / PostgreSQL (push) / sandbox",
                        f"{cpu['worker']:.2f} / {_f(cpu['db_server_push'], 2)} / {cpu['sandbox']:.2f}", "", ""))
    pi = (results.get("profile") or {}).get("ingest") or {}
    if pi and "error" not in pi and "batch" in pi:
        single_n, batch_n = pi["queries_per_order"], pi["batch"]["statements_per_order"]
        out.append(("2 overhead", "SQL statements per order: single-order ingest", f"{single_n}",
                    f"<= {GOAL_SINGLE_STATEMENTS} (half of 20)",
                    "met" if single_n <= GOAL_SINGLE_STATEMENTS else f"NOT met (+{single_n - GOAL_SINGLE_STATEMENTS})"))
        out.append(("2 overhead", f"SQL statements per order: batch of {pi['batch']['batch_size']}", f"{batch_n:.2f}",
                    f"<= {GOAL_BATCH_STATEMENTS}", "met" if batch_n <= GOAL_BATCH_STATEMENTS else "NOT met"))
    h = results.get("http")
    if h and "error" not in h:
        ratio = h["post_over_get_cpu"]
        out.append(("5 http", "POST /orders vs GET /orders: web CPU ms (p50 ms)",
                    f"{h['post']['web_cpu_ms_per_request']:.1f} vs {h['get']['web_cpu_ms_per_request']:.1f} "
                    f"({h['post']['p50_ms']:.1f} vs {h['get']['p50_ms']:.1f}) = {ratio:.1f}x",
                    f"<= {GOAL_POST_OVER_GET}x", "met" if ratio <= GOAL_POST_OVER_GET else
                    f"NOT met ({ratio / GOAL_POST_OVER_GET:.1f}x the goal)"))
        b = h["batch"]
        out.append(("5 http", f"POST /orders/batch of {b['orders_per_request']}: ms per order (p50; web CPU)",
                    f"{b['p50_ms_per_order']:.2f}; {b['web_cpu_ms_per_order']:.2f}", f"<= {GOAL_BATCH_MS_PER_ORDER:g} ms",
                    "met" if b["p50_ms_per_order"] <= GOAL_BATCH_MS_PER_ORDER else
                    f"NOT met ({b['p50_ms_per_order'] / GOAL_BATCH_MS_PER_ORDER:.1f}x)"))
        st = h["statements"]
        out.append(("5 http", "SQL statements: POST /orders / GET /orders / batch per order",
                    f"{st['post_orders']} / {st['get_orders']} / {st['batch_per_order']:.2f}", "", ""))
    st_all = results.get("stores")
    if isinstance(st_all, dict) and "error" not in st_all:
        for db, res in st_all.items():
            for r in (res or {}).get("runs", []) if isinstance(res, dict) else []:
                ok = r["over_5s"] == 0 and r["lost"] == 0 and r["achieved_rate"] >= 0.95 * r["rate"]
                out.append(("7 stores", f"{r['mode']}, {db}: {r['deliveries']:,} signed deliveries at {r['rate']:g}/s:"
                            " sent/s, p50 / p99 / max ms, over 5 s, lost",
                            f"{r['achieved_rate']:.0f}/s, {r['p50_ms']:.0f} / {r['p99_ms']:.0f} / {r['max_ms']:.0f},"
                            f" {r['over_5s']:,}, {r['lost']}",
                            f"{GOAL_STORE_RATE}/s, none over {GOAL_STORE_ANSWER_MS // 1000} s, 0 lost",
                            ("met" if r["seconds"] >= 60 else f"met for {r['seconds']:g} s (the goal: a minute)")
                            if ok and r["rate"] >= GOAL_STORE_RATE else "NOT met"))
    c = results.get("csv")
    if c and "error" not in c:
        ok = c["created"] == c["expected_created"]
        out.append(("6 csv", f"import-orders of {c['rows']:,} rows: time, peak memory",
                    f"{c['wall_s']:.0f} s ({_f(c['rows_per_s'])} rows/s), {c['peak_rss_mb']:.0f} MB",
                    f"< {GOAL_CSV_PEAK_MB} MB", ("met" if c["peak_rss_mb"] < GOAL_CSV_PEAK_MB else "NOT met")
                    + ("" if ok else "; COUNTS WRONG")))
    m = results.get("mirror")
    if m and "error" not in m:
        fs, cdc, mt = m["full_sync"], m["cdc"], m["match"]
        out.append(("3 mirror", f"full sync of {fs['records']:,} customers", f"{fs['wall_s']:.1f} s "
                    f"({_f(fs['records_per_s'])}/s)", "", ""))
        out.append(("3 mirror", f"CDC of {cdc['changes']:,} changes", f"{cdc['wall_s']:.2f} s, {cdc['queries']:,} queries",
                    "", "met" if cdc["applied"] == cdc["changes"] else "COUNTS WRONG"))
        out.append(("3 mirror", f"email match, {mt['customers']:,} customers: p50 / p95",
                    f"{mt['p50_ms']:.2f} / {mt['p95_ms']:.2f} ms, {mt['queries']} query", "", ""))
    a = results.get("admin")
    if a and "error" not in a:
        for pg in a["pages"]:
            out.append(("4 admin", f"{pg['page']} ({a['requests_stored']:,} stored): p50 / p95, queries",
                        f"{pg['p50_ms']:.1f} / {pg['p95_ms']:.1f} ms, {pg['queries']}", "",
                        "" if pg["status"] == 200 else f"HTTP {pg['status']}"))
    for name in ("ceiling", "overhead", "mirror", "admin", "http", "stores", "csv", "profile"):
        if isinstance(results.get(name), dict) and "error" in results[name]:
            out.append((name, "FAILED", results[name]["error"][:80], "", "FAILED"))
    return out


def table(results: dict) -> str:
    head = ("benchmark", "measure", "result", "goal", "")
    data = [head, *rows(results)]
    widths = [max(len(r[i]) for r in data) for i in range(5)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in data]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def md_table(results: dict) -> str:
    out = ["| benchmark | measure | result | goal | |", "|---|---|---|---|---|"]
    for r in rows(results):
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
    return "\n".join(out)


# --- chart ------------------------------------------------------------------------------------------


def svg(results: dict) -> str:
    """Two horizontal bar panels: documents/min at QBO's limits; orders/s without limits."""
    width, left, right = 760, 250, 40
    panels = []
    c = results.get("ceiling")
    if c and "error" not in c:
        bars = [("Ledgerlink (worker, batches)", c["docs_per_min"], "#2b6cb0"),
                ("python-quickbooks loop", c["python_quickbooks"]["docs_per_min"], "#a0aec0")]
        panels.append((f"1. Documents per minute, one company, QBO limits, latency median {c['latency']['median_ms']} ms",
                       bars, [(CEILING, f"ceiling {CEILING:,}"), (CEILING * GOAL_SHARE, "95 %")], "docs/min"))
    o = results.get("overhead")
    if o and "error" not in o:
        bars = [(r["label"], r["push_orders_per_s"], "#2f855a") for r in o["runs"]]
        for r in o["runs"]:
            for name, color in (("batch", "#9ae6b4"), ("single", "#cbd5e0")):
                part = r.get("paths", {}).get(name)
                if part:
                    bars.append((f"{r['label']}: end to end, {name}", part["end_to_end_orders_per_s"], color))
        panels.append((f"2. Orders per second, {o['runs'][0]['orders']:,} orders, no latency or limits (push; end to end)",
                       bars, [(GOAL_ORDERS_PER_S, f"goal {GOAL_ORDERS_PER_S:,}")], "orders/s"))
    y = 20
    parts = []
    for title, bars, marks, unit in panels:
        top = max([b[1] for b in bars] + [m[0] for m in marks]) * 1.15 or 1
        scale = (width - left - right) / top
        parts.append(f'<text x="10" y="{y + 14}" font-size="14" font-weight="bold">{html.escape(title)}</text>')
        y += 28
        y0 = y
        for label, value, color in bars:
            w = max(1.0, value * scale)
            parts.append(f'<text x="{left - 8}" y="{y + 15}" font-size="12" text-anchor="end">{html.escape(label)}</text>')
            parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="20" fill="{color}"/>')
            parts.append(f'<text x="{left + w + 5:.1f}" y="{y + 15}" font-size="12">{value:,.0f} {unit}</text>')
            y += 28
        for value, label in marks:
            x = left + value * scale
            parts.append(f'<line x1="{x:.1f}" y1="{y0 - 4}" x2="{x:.1f}" y2="{y}" stroke="#c53030" '
                         f'stroke-dasharray="4 3"/>')
            parts.append(f'<text x="{x + 3:.1f}" y="{y + 12}" font-size="11" fill="#c53030">{html.escape(label)}</text>')
        y += 30
    height = y + 10
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif">'
            f'<rect width="100%" height="100%" fill="white"/>' + "".join(parts) + "</svg>\n")


def write(results: dict, out: Path) -> None:
    (out / "benchmarks.svg").write_text(svg(results))
    (out / "benchmarks.md").write_text(narrative.document(results, md_table(results)))
