"""The figures the benchmarks are judged against (docs/benchmarks.md)."""

CEILING = 1200  # 40 batches a minute x 30 documents (qbo-api-facts.md section 4.1)
GOAL_SHARE = 0.95
GOAL_ORDERS_PER_S = 1000
