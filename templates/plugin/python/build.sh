#!/bin/sh
# Build {{wasm}}: install the pinned componentize-py into .venv once, then componentize app.py.
# CHAOSKIT_PYTHON may name an interpreter that already has componentize-py beside it.
set -eu
cd "$(dirname "$0")"
python="${CHAOSKIT_PYTHON:-}"
if [ -z "$python" ]; then
    if [ ! -x .venv/bin/componentize-py ]; then
        python3 -m venv .venv
        .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
    fi
    python=.venv/bin/python
fi
PYTHONDONTWRITEBYTECODE=1 "$python" build.py {{kind}} app.py {{wasm}}
