"""``make bench`` / ``python -m ledgerlink.bench [--quick|--full] [--only NAME]``: see docs/benchmarks.md."""
