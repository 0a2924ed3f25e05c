"""One benchmark case in its own process: ``python -m ledgerlink.bench.case NAME PARAMS_JSON OUT_FILE``.

The parent (``ledgerlink.bench.__main__``) gives each case a fresh database through DATABASE_URL
and a running qbo-sandbox subprocess (``params["sandbox"]``, ``params["sandbox_pid"]``). The case
writes its figures as JSON to OUT_FILE. Progress goes to stderr.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ledgerlink.settings")
django.setup()

from ledgerlink.bench import cases  # noqa: E402


def main(argv: list[str]) -> int:
    name, params, out_file = argv[0], json.loads(argv[1]), Path(argv[2])
    func = getattr(cases, f"case_{name.replace('-', '_')}")
    t0 = time.monotonic()
    result = func(params)
    result.setdefault("case_seconds", round(time.monotonic() - t0, 1))
    out_file.write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
