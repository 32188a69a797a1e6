#!/usr/bin/env bash
# Install Accord into .venv and run it on this machine with the demo project:
#   scripts/embedded.sh [more `accord embedded` options, e.g. --port 8001]
# Then open http://127.0.0.1:8000/ and sign in with a printed demo password.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# Install again only when the dependencies changed, so a restart is quick.
# (Python 3.11's own pip installs editable pyproject packages: no upgrade.)
stamp=.venv/.accord-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet -e .
  touch "$stamp"
fi
exec .venv/bin/accord embedded --demo "$@"
