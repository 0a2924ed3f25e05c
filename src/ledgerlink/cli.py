"""The ``ledgerlink`` console script: the project's manage.py commands.

Commands are spelled with hyphens on the command line (``ledgerlink import-orders``,
``ledgerlink create-api-token``, ``ledgerlink run-demo``); Django's underscore names work too.
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ledgerlink.settings")
    from django.core.management import execute_from_command_line

    argv = list(sys.argv[1:])
    if argv and not argv[0].startswith("-") and "-" in argv[0]:
        argv[0] = argv[0].replace("-", "_")
    execute_from_command_line(["ledgerlink", *argv])


if __name__ == "__main__":
    main()
