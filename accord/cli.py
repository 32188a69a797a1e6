"""The ``accord`` console command: manage.py for people who install with pip.

``accord embedded`` is the one explicit switch into the embedded mode; it has
to be decided before settings load, so it is handled here and not by a flag
inside the management command. For the same reason its ``--data-dir`` is read
here: settings put the database, the secret and the broker in that folder.
"""

from __future__ import annotations

import os
import sys


def _option_value(argv: list[str], name: str) -> str | None:
    """The value of ``name`` in ``argv`` (``--name value`` or ``--name=value``)."""
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg[len(name) + 1 :]
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    if len(argv) > 1 and argv[1] == "embedded":
        os.environ["ACCORD_MODE"] = "embedded"
        data_dir = _option_value(argv[2:], "--data-dir")
        if data_dir:
            os.environ["ACCORD_DATA_DIR"] = os.path.abspath(os.path.expanduser(data_dir))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accord.settings")
    # Imported once the settings module is chosen above.
    from django.core.management import execute_from_command_line

    execute_from_command_line(argv)
    return 0
