"""``python -m ledgerlink.cli ...``: the same as the ``ledgerlink`` console script."""

from ledgerlink.cli import main

main()
