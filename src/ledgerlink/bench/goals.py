"""The figures the benchmarks are judged against (docs/benchmarks.md)."""

CEILING = 1200  # 40 batches a minute x 30 documents (qbo-api-facts.md section 4.1)
GOAL_SHARE = 0.95
GOAL_ORDERS_PER_S = 1000
# Issue 17
GOAL_BATCH_OVER_SINGLE = 5  # end to end, the batch path at least 5 times the single-order path
BASELINE_SINGLE_STATEMENTS = 20  # SQL statements of one ingest_order before issue 17 (docs/benchmarks.md then)
GOAL_SINGLE_STATEMENTS = BASELINE_SINGLE_STATEMENTS // 2
GOAL_BATCH_STATEMENTS = 3  # per order, amortised
GOAL_POST_OVER_GET = 2  # CPU of one POST /orders at most twice a GET /orders
GOAL_BATCH_MS_PER_ORDER = 1.0  # a batch of 500 over HTTP
GOAL_CSV_PEAK_MB = 300  # a million-row import
# Issue 16: store webhooks
GOAL_STORE_RATE = 200  # deliveries a second, for a minute, through gunicorn
GOAL_STORE_ANSWER_MS = 5000  # Shopify's limit for an answer
