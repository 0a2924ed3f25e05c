"""tests/chaos runs only when asked for (``make chaos`` = ``pytest tests/chaos -m slow``): a full run
takes minutes and restarts the shared PostgreSQL server, so ``make test`` (which collects every test
under tests/) skips it. The reduced version inside ``make test`` is tests/ledgerlink/worker/test_chaos_small.py."""

import pytest


def pytest_collection_modifyitems(config, items):
    expr = config.getoption("markexpr") or ""
    if "slow" in expr and "not slow" not in expr:
        return
    skip = pytest.mark.skip(reason="chaos suite: run with `make chaos` (pytest tests/chaos -m slow)")
    for item in items:
        if item.nodeid.startswith("tests/chaos/"):
            item.add_marker(skip)
