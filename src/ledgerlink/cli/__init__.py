"""The ``ledgerlink`` console script (= manage.py) and its commands (Django app label "cli").

Commands are spelled with hyphens on the command line (``ledgerlink import-orders``,
``ledgerlink create-api-token``, ``ledgerlink run-demo``); their modules use underscores and Django's
underscore names work too. ``ledgerlink help create-api-token`` works the same way.
"""

import os
import sys

from django.core.management import execute_from_command_line


def command_argv(argv: list[str]) -> list[str]:
    """The command line with the command (and the command ``help`` is asked about) in Django's
    underscore spelling."""
    argv = list(argv)
    positions = [0, 1] if argv[:1] == ["help"] else [0]
    for i in positions:
        if len(argv) > i and not argv[i].startswith("-") and "-" in argv[i]:
            argv[i] = argv[i].replace("-", "_")
    return argv


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ledgerlink.settings")
    execute_from_command_line(["ledgerlink", *command_argv(sys.argv[1:])])


if __name__ == "__main__":
    main()
