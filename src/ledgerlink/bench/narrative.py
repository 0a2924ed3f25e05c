"""docs/benchmarks.md: the run's table and chart, then the method, goals and gaps, profiles and fixes.

Every number below is read from this run's results; the prose around them is fixed text.
"""

from __future__ import annotations

from ledgerlink.bench.goals import CEILING, GOAL_ORDERS_PER_S, GOAL_SHARE


def _n(x, d: int = 0) -> str:
    return "n/a" if x is None else f"{x:,.{d}f}"


# Fixes made from the profiles, measured on this machine during development (not in this run; the
# machine was shared and loaded, so wall times are noisy; query counts and CPU seconds are stable).
FIXES = [
    ("`freshness.apply_records` (CDC, webhooks)",
     "one mirror look-up and one upsert transaction per record",
     "CDC of 1,000 changes (20,000 customers): 9,000 queries, 6.9 s CPU, 28.2 s wall",
     "one look-up and one upsert per 500 records: 3,043 queries, 2.7 s CPU, 5.2 s wall"),
    ("`customers.heal_after_mirror_change`",
     "3 queries per changed customer (its emails, the match, the waiting requests)",
     "3,043 queries, 2.7 s CPU, 5.2 s wall",
     "one query for the emails and one for what waits on them, per 500: 47 queries, 1.05 s CPU, 2.7 s wall"),
    ("`payloads.build_payload` (ingest)",
     "one Item query per line for the default item, and one more for the shipping line",
     "23 SQL statements per ingested order (2 lines + shipping)",
     "one query per distinct item per order: 21 statements per order"),
    ("`automation.apply_rules` (ingest)",
     "saved the order (a full UPDATE of the row just inserted) even when no rule changed it",
     "21 SQL statements per ingested order",
     "saves only when a rule changed something: 20 statements per order"),
    ("`worker.due_company_ids` (claim loop)",
     "one EXISTS round trip per Company every 100 ms in every worker process",
     "worker CPU per order 0.94 / 0.99 / 1.32 ms with 1 / 2 / 4 workers on PostgreSQL, 0.88 on SQLite; "
     "PostgreSQL server 0.34 / 0.34 / 0.44 ms",
     "one query: 0.78 / 0.85 / 1.11 ms, 0.68 on SQLite; PostgreSQL server 0.25 / 0.29 / 0.40 ms"),
]


def _ceiling(c: dict) -> str:
    if not c or "error" in c:
        return "Not run." if not c else f"FAILED: {c['error']}"
    pq = c["python_quickbooks"]
    minutes = "\n".join(f"| {m['from_s']:.0f}–{m['to_s']:.0f} s | {m['documents']:,} |" for m in c["minutes"])
    ops = ", ".join(f"{k} {v:,}" for k, v in sorted(c["http_ok_by_operation_in_window"].items()))
    share = c["docs_per_min"] / CEILING
    whole = c["window_s"] % 60 == 0
    return f"""**Set-up.** A `qbo-sandbox` subprocess with QBO's limits on (500 requests a minute, 10 at once,
40 batches a minute, at most 30 items a batch) and a latency drawn per request from a lognormal
distribution with median {c['latency']['median_ms']} ms and p99 {c['latency']['p99_ms']:,} ms. One company.
{c['orders_queued']:,} orders were ingested first (invoices, customer matched by email), then one
`ledgerlink worker --concurrency 10` process was started and stopped (SIGTERM) when the window was over.

**Window.** {c['window_s']:.0f} s from the start of the first attempt. A document counts when its attempt
*started* inside the window and succeeded (every document is one attempt). QBO's limits are a sliding
60-second window, so the first seconds of a minute are a burst (all 40 batches go out at once); a
per-minute figure is only honest over whole minutes, which is why the window is {'a whole number of minutes' if whole else 'NOT a whole number of minutes (development run): the figure overstates'}.

| part of the window | documents |
|---|---|
{minutes}

**Result.** {c['documents_in_window']:,} documents in {c['window_s']:.0f} s = **{_n(c['docs_per_min'])} documents a minute,
{share:.0%} of {CEILING:,}** (goal {GOAL_SHARE:.0%}: {'met' if share >= GOAL_SHARE else 'NOT met'}). Successful HTTP
exchanges in the window: {ops}; {c['batches']} batches in the whole run, {c['mean_batch']:.1f} documents each on average.
{CEILING:,} is 40 batches × 30. The sandbox counts a batch as one of the 500 requests (QBO's pages do not
say whether it does, qbo-api-facts.md section 4.1), so the 460 other requests of a minute carry single
documents and the ceiling under these rules is 40 × 30 + 460 = 1,660 a minute; if QBO counted every
batch item against the 500, the ceiling would be 500 and the worker's limiter would have to count so too. The worker's limiter (`company_load` in `worker/limiter.py`)
counts the same way: a batch is one request, one batch, and one in-flight slot.

**429 answers: {c['requests_429']}** (goal 0), counted in the sandbox's request log; peak concurrency seen by
the sandbox {c['peak_inflight']} (limit 10). Documents in the sandbox: {c['documents']:,} (the worker was stopped after the window, so the other
queued orders stayed queued), duplicates {c['duplicate_documents']}, succeeded orders without a document
{c['orders_without_document']}.

**The usual integration.** The same payloads, saved one after another with python-quickbooks 0.9.12
(`Invoice.from_json(...).save(qb=client, request_id=...)`, unmodified, `sandbox_api_url_v3` pointed at
the sandbox) on a second realm of the same sandbox with the same limits and latency, for
{pq['wall_s']:.0f} s: {pq['documents']:,} documents = **{_n(pq['docs_per_min'])} a minute**; no limit is reached by a
sequential loop, so this rate is steady and extrapolating it is fair. **Ledgerlink / python-quickbooks =
{c['ratio']:.1f}×.**

CPU in this run: worker {c['worker_cpu_s']:.1f} s, sandbox {c['sandbox_cpu_s']:.1f} s for
{c['succeeded_total']:,} documents."""


def _overhead(o: dict, profile: dict | None, info_cpus: int | None = None) -> str:
    if not o or "error" in o:
        return "Not run." if not o else f"FAILED: {o['error']}"
    runs = o["runs"]
    r0 = runs[0]
    lines = ["| run | ingest orders/s | push orders/s | end to end orders/s | succeeded | documents | "
             "CPU ms/order: ingest | payload | worker | PostgreSQL | sandbox |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        c = r["cpu_ms_per_order"]
        db = None
        if c.get("db_server_push") is not None:
            db = (c.get("db_server_ingest") or 0) + c["db_server_push"]
        lines.append(
            f"| {r['label']} | {_n(r['ingest']['orders_per_s'])} ({r['ingest'].get('processes', 1)} process"
            f"{'es' if r['ingest'].get('processes', 1) > 1 else ''}) | {_n(r['push_orders_per_s'])} | "
            f"{_n(r['end_to_end_orders_per_s'])} | {r['succeeded']:,}/{r['orders']:,} | {r['documents']:,} | "
            f"{c['ingest']:.2f} | {c['payload']:.2f} | {c['worker']:.2f} | {_n(db, 2)} | {c['sandbox']:.2f} |")
    best = max(runs, key=lambda r: r["end_to_end_orders_per_s"])
    c = r0["cpu_ms_per_order"]
    ledgerlink_ms = c["ingest"] + c["payload"] + c["worker"]
    cpus = info_cpus or 2
    best_push = max(runs, key=lambda r: r["push_orders_per_s"])
    bound = cpus * 1000.0 / ledgerlink_ms if ledgerlink_ms else 0
    met = best["end_to_end_orders_per_s"] >= GOAL_ORDERS_PER_S
    ing0 = r0["ingest"]
    if ing0.get("cloned"):
        sample_note = (f"The first {ing0['orders']:,} went through `ingest_order` (the service behind `POST "
                       f"/api/v1/orders` and the CSV import: validation, automation rules, payload builder, "
                       f"outbox), timed; the other {ing0['cloned']:,} were copied from them in SQL (order, lines, "
                       f"push request, revision with its own DocNumber and PrivateNote marker), because "
                       f"`ingest_order` at this machine's rate would have cost the run about "
                       f"{ing0['wall_s'] * (ing0['cloned']) / ing0['orders'] / 60:.0f} more minutes per database. "
                       f"Ingest rates and CPU are per ingested order; end to end uses the ingest time "
                       f"extrapolated to all {r0['orders']:,} orders. ")
    else:
        sample_note = ("All went through `ingest_order` (the service behind `POST /api/v1/orders` and the CSV "
                       "import: validation, automation rules, payload builder, outbox). ")
    prof = ""
    if profile and "ingest" in profile and "error" not in profile["ingest"]:
        pi = profile["ingest"]
        share = pi.get("db_engine_share")
        prof = (f" The profile of `ingest_order` (below) shows where: {pi['queries_per_order']} SQL statements per "
                f"order" + (f", and only {share:.0%} of the profiled time inside SQLite's own execute (profiling "
                            f"inflates Python calls, so the real share is larger, but small); the rest is Python: "
                            f"Django's ORM building and compiling those statements, model instances, validation, "
                            f"JSON." if share is not None else "."))
    return f"""**Set-up.** A `qbo-sandbox` subprocess with no latency and no limits; {r0['companies']} companies
(half invoices with the customer matched by email, half sales receipts); {r0['orders']:,} orders of
two lines, shipping and tax. {sample_note}Then they were pushed by `ledgerlink worker --until-idle --concurrency {r0['concurrency']}` processes. SQLite: one
ingest process, one worker (the supported SQLite set-up). PostgreSQL: ingested once with four
processes (each order is about 20 round trips to the server), the database then copied (`CREATE DATABASE … TEMPLATE`) and restored before each worker
count, with a fresh sandbox holding the same realms, so 1, 2 and 4 workers push the same orders. Ledgerlink's own per-Company limiter stays on (each company's 1,000 orders fit in
its budget of one minute: 40 batches of 30). Push time runs from the first attempt's start to the last request's completion; end to end
= orders / (ingest time + push time).

**CPU per order** comes from the processes' own counters (`/proc/<pid>/stat`, `os.wait4`, `os.times`):
ingest = the ingest process minus the time inside `build_payload` (payload); worker = all worker
processes (their start-up included); PostgreSQL = the server backends of the bench database, sampled
every 0.2 s (ingest + push); sandbox = the sandbox process during the push.

{chr(10).join(lines)}

**Goal ≥ {GOAL_ORDERS_PER_S:,} orders a second: {'met' if met else 'NOT met'}.** The best end-to-end rate was
{_n(best['end_to_end_orders_per_s'])} orders/s ({best['label']}). {'' if met else f'''The gap is CPU, not waiting: on SQLite
Ledgerlink spends {ledgerlink_ms:.1f} ms of CPU per order ({c['ingest']:.1f} ingest + {c['payload']:.1f} payload
building + {c['worker']:.1f} worker), so even with both of this machine's {cpus} cores busy and nothing else
running it cannot pass about {bound:,.0f} orders a second, {GOAL_ORDERS_PER_S / max(bound, 1):.1f}× short of the goal
({cpus} cores at {GOAL_ORDERS_PER_S:,}/s leave {cpus * 1000 / GOAL_ORDERS_PER_S:.1f} ms per order for everything).
Ingest is the largest part.{prof} Reaching {GOAL_ORDERS_PER_S:,}/s on one machine needs a batch ingest
path (validate many orders, then one transaction with `bulk_create` for orders, lines, push requests
and revisions, with rules and item/customer look-ups loaded once per batch): a change of design,
proposed to the lead, not made here.'''}
Pushing alone (ingest done) is faster: {', '.join(f"{r['label']} {_n(r['push_orders_per_s'])}/s" for r in runs)};
the worker side {'reaches' if best_push['push_orders_per_s'] >= GOAL_ORDERS_PER_S else 'does not reach'} {GOAL_ORDERS_PER_S:,}/s
({best_push['label']}: {_n(best_push['push_orders_per_s'])}/s at {best_push['cpu_ms_per_order']['worker']:.2f} ms of worker CPU per
order). More worker processes do not help on {cpus} cores: they share the same CPUs with the sandbox
(and PostgreSQL), and each adds its start-up and its claim loop.
The sandbox's own CPU ({c['sandbox']:.2f} ms/order) shares this machine's cores; real QBO would not."""


def _mirror(m: dict) -> str:
    if not m or "error" in m:
        return "Not run." if not m else f"FAILED: {m['error']}"
    fs, cdc, mt = m["full_sync"], m["cdc"], m["match"]
    return f"""**Full sync.** {fs['records']:,} customers in the sandbox (written into a `--state` file the
sandbox loads at start: creating them through the API is O(n²) in the sandbox, whose DisplayName
uniqueness check scans every name-list record). `sync_company(company, ["Customer"])`: {fs['pages']} pages
of 1,000, **{fs['wall_s']:.1f} s** ({_n(fs['records_per_s'])} customers/s); Ledgerlink CPU {fs['cpu_s']:.1f} s, sandbox CPU
{fs['sandbox_cpu_s']:.1f} s (the sandbox filters and sorts every record for each page; QBO's cost is not ours to
measure). The mirror then holds {fs['mirror_customers']:,} active customers and {fs['mirror_emails']:,}
email rows (every tenth customer has two addresses). No latency: against QBO add a round trip per page.

**CDC.** {cdc['changes']:,} customers changed in QBO after the sync (new email, SyncToken + 1,
LastUpdatedTime now); one `cdc_sync_company` pass: **{cdc['wall_s']:.2f} s**, {cdc['queries']:,} SQL statements,
Ledgerlink CPU {cdc['cpu_s']:.2f} s; {cdc['applied']:,} applied, {cdc['mirror_has_new_emails']:,} new emails in the mirror.

**Email match.** {mt['customers']:,} customers and {mt['emails']:,} email rows in the mirror for one company (the
rows beyond the sync inserted directly). `match_customer_by_email` over {mt['probes']:,} addresses (hits
{mt['hits']:,} of the {mt.get('expected_hits', mt['hits']):,} expected: the rest had their email changed by the CDC step; mixed case and spaces included): **p50 {mt['p50_ms']:.2f} ms, p95 {mt['p95_ms']:.2f} ms** (CPU time of the calling thread: p50
{mt.get('cpu_p50_ms', 0):.2f} ms, p95 {mt.get('cpu_p95_ms', 0):.2f} ms; the difference is the wait for a core on a shared machine), one query
(index `customer_email_lookup` on company, email); misses p50 {mt['miss_p50_ms']:.2f} ms, p95 {mt['miss_p95_ms']:.2f} ms."""


def _admin(a: dict) -> str:
    if not a or "error" in a:
        return "Not run." if not a else f"FAILED: {a['error']}"
    lines = ["| page | p50 ms | p95 ms | CPU p50 / p95 ms | queries | samples | slowest query ms |",
             "|---|---|---|---|---|---|---|"]
    for p in a["pages"]:
        lines.append(f"| {p['page']} (`{p['url']}`) | {p['p50_ms']:.1f} | {p['p95_ms']:.1f} | "
                     f"{p.get('cpu_p50_ms', 0):.1f} / {p.get('cpu_p95_ms', 0):.1f} | {p['queries']} | "
                     f"{p.get('samples', a['repeats'])} | {p['slowest_query_ms']:.0f} |")
    return f"""**Set-up.** {a['requests_stored']:,} push requests on {a['db']} (94 % succeeded, 4 % failed with five
error kinds, 1 % cancelled, 1 % pending), each with its order, one revision and one attempt
({a['attempts_stored']:,} attempts), inserted in chunks ({a['seed_s']:.0f} s). Pages are requested in-process
with `django.test.Client` as a logged-in admin (the API with a Bearer token); server time includes
middleware, the view, the queries and template rendering, not the network; "CPU" is the thread's CPU
time for the same requests (SQLite runs in-process, so it includes the database work). Two warm-up requests, then up
to {a['repeats']} samples per page (at least 5; at most about 20 s per page). Query counts from
`CaptureQueriesContext`.

{chr(10).join(lines)}"""


def _profiles(profile: dict | None) -> str:
    if not profile or "error" in profile:
        return "Not run." if not profile else f"FAILED: {profile['error']}"
    out = []
    pi = profile.get("ingest") or {}
    if pi and "error" not in pi:
        stmts = "\n".join(f"{i + 1:2d}. `{s[:110]}`" for i, s in enumerate(pi["statements"]))
        out.append(f"""### `ingest_order` ({pi['orders']} orders under cProfile, {pi['cpu_ms_per_order_profiled']:.1f} ms CPU/order profiled)

SQL statements for one order ({pi['queries_per_order']}):

{stmts}

```
{pi['profile'].strip()}
```""")
    pw = profile.get("worker") or {}
    if pw and "error" not in pw:
        out.append(f"""### The worker loop (`Worker(concurrency=0).run(until_idle=True)`, {pw['orders']} orders, {pw['succeeded']} succeeded, {pw['cpu_ms_per_order_profiled']:.1f} ms CPU/order profiled)

```
{pw['profile'].strip()}
```""")
    return "\n\n".join(out)


def document(results: dict, table: str) -> str:
    info = results["info"]
    fixes = "\n".join(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in FIXES)
    return f"""# Benchmarks

Written by `make bench` ({info['mode']} run) on {info['started']}, commit `{info['commit']}`:
{info['cpus']} CPUs ({info['cpu']}), Python {info['python']}. Load average {info['load_start'][0]:.1f} at the start
and {info['load_end'][0]:.1f} at the end (other work shared the machine); the run took {info['seconds'] / 60:.1f} minutes.
Every figure below comes from that run on this machine, each next to its baseline from the same run.

```
make bench                                   # this document (10–25 minutes, depending on the load)
.venv/bin/python -m ledgerlink.bench --full  # the ceiling over two minutes; all 20,000 orders through ingest_order
.venv/bin/python -m ledgerlink.bench --quick --only overhead   # small sizes, for development
```

Code: `src/ledgerlink/bench/` (`cases.py` holds each benchmark). Each case runs in its own process,
with a fresh database (SQLite copied from one migrated template; PostgreSQL `ledgerlink_bench`
re-created from a migrated template, dropped at the end) and its own `qbo-sandbox` subprocess on
127.0.0.1, so the sandbox never shares a GIL with Ledgerlink. Settings as in production where they
matter (`DEBUG=0`). A tiny version of every case runs in `make test`
(`tests/ledgerlink/test_bench_smoke.py`, counts only).

## Results

{table}

![Documents a minute at QBO's limits; orders a second without limits](benchmarks.svg)

## 1. The ceiling: one company at QBO's limits

{_ceiling(results.get('ceiling'))}

## 2. Overhead: Ledgerlink's own cost

{_overhead(results.get('overhead'), results.get('profile'), info.get('cpus'))}

## 3. The mirror

{_mirror(results.get('mirror'))}

## 4. The admin area and the API with many requests stored

{_admin(results.get('admin'))}

## Findings for the lead (not fixed here)

* **CDC dropped changes beyond 1,000 per entity (fixed).** QBO answers at most 1,000 objects per
  entity per CDC call (qbo-api-facts.md section 4.1; the sandbox does the same), and
  `freshness.cdc_sync_company` used to set `last_cdc_at = now` after one call, so past 1,000 changes the
  rest waited for the next full sync (this benchmark met it as 999 of 1,000 applied). It now asks
  again from the newest LastUpdatedTime of a full answer, and falls back to a full sync when over a
  thousand changes share one second (`test_cdc_reads_past_qbos_1000_records_per_answer`).
* **The request page's "similar requests" count** is its slowest query at a million rows (see section 4):
  on SQLite the planner picks the `order_source_id` index (a sixth of the table) over `error_kind`;
  an index on (error_kind, order_source, state) or a capped count on the error-kind index would make
  it a few milliseconds.
* **Ingest is round-trip bound on PostgreSQL**: about 20 statements per order, each a round trip, so one
  ingest process is slow when the server is busy; batch ingest (section 2) would fix both.
* **qbo_sandbox's DisplayName uniqueness check scans every name-list record** (`entities._name_taken`),
  so creating n customers through its API costs O(n²): 10,000 took 87 s here, 100,000 would take hours.
  The bench writes them into a `--state` file instead. A per-realm name index would fix it.

## Fixes made from the profiles

Measured on this machine during development with the same benchmark code, before and after each
commit (the machine was shared, so wall times are noisy; query counts and CPU seconds are stable).

| where | before | before: measured | after: measured |
|---|---|---|---|
{fixes}

## Profiles (this run)

cProfile from the standard library (no new dependency; py-spy or pyinstrument would add one), sorted by
cumulative time. Profiling roughly doubles the CPU per call: shares matter, not absolute times.

{_profiles(results.get('profile'))}
"""
