#!/usr/bin/env bash
# The Python environment of the server tests (tests/server/): the official openai client,
# schemathesis and pytest, pinned, from PyPI, in $BUILD_DIR/server-venv (outside git). Idempotent:
# skipped when the venv already has these versions. Called by scripts/setup.sh; without network
# it fails with pip's message and the server tests skip, saying why.
set -euo pipefail
venv=${1:?usage: make_venv.sh <venv dir>}
packages=(openai==3.57.0 schemathesis==4.32.5 pytest==9.2.0)
stamp="$venv/.bertrank-server-venv"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${packages[*]}" ] && [ -x "$venv/bin/pytest" ]; then
  exit 0
fi
echo "setup: server test venv ($venv): ${packages[*]}"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "${packages[@]}"
echo "${packages[*]}" >"$stamp"
