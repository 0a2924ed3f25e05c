"""The ``ledgerlink`` console script: the project's manage.py commands."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ledgerlink.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["ledgerlink", *sys.argv[1:]])


if __name__ == "__main__":
    main()
