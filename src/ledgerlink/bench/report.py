"""The results table (terminal and Markdown), docs/benchmarks.md and the SVG chart."""

from __future__ import annotations

import html
from pathlib import Path

from ledgerlink.bench import narrative
from ledgerlink.bench.goals import CEILING, GOAL_ORDERS_PER_S, GOAL_SHARE


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
            out.append(("2 overhead", f"{r['label']}: push orders/s (ingest orders/s; end to end)",
                        f"{_f(r['push_orders_per_s'])} ({_f(r['ingest']['orders_per_s'])}; "
                        f"{_f(r['end_to_end_orders_per_s'])})",
                        f">= {GOAL_ORDERS_PER_S:,}",
                        ("met" if r["end_to_end_orders_per_s"] >= GOAL_ORDERS_PER_S else "NOT met")
                        + ("" if ok else "; COUNTS WRONG")))
        r0 = o["runs"][0]
        cpu = r0["cpu_ms_per_order"]
        out.append(("2 overhead", f"CPU ms/order ({r0['label']}): ingest / payload / worker / sandbox",
                    f"{cpu['ingest']:.2f} / {cpu['payload']:.2f} / {cpu['worker']:.2f} / {cpu['sandbox']:.2f}", "", ""))
        for r in o["runs"][1:]:
            cpu = r["cpu_ms_per_order"]
            out.append(("2 overhead", f"CPU ms/order ({r['label']}): worker / PostgreSQL (push) / sandbox",
                        f"{cpu['worker']:.2f} / {_f(cpu['db_server_push'], 2)} / {cpu['sandbox']:.2f}", "", ""))
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
    for name in ("ceiling", "overhead", "mirror", "admin", "profile"):
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
        bars += [(f"{o['runs'][0]['label']}: end to end", o["runs"][0]["end_to_end_orders_per_s"], "#9ae6b4")]
        panels.append((f"2. Orders per second, {o['runs'][0]['orders']:,} orders, no latency or limits (push phase)",
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
