"""The ``accord`` console command: manage.py for people who install with pip.

``accord embedded`` is the one explicit switch into the embedded mode; it has
to be decided before settings load, so it is handled here and not by a flag
inside the management command.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    if len(argv) > 1 and argv[1] == "embedded":
        os.environ["ACCORD_MODE"] = "embedded"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accord.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(argv)
    return 0
