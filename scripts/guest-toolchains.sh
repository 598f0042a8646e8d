#!/usr/bin/env bash
# Install the pinned guest toolchains for JavaScript and Python plugins, where the build of
# `tests/plugin-artifacts` (and `chaoskit-host plugin new --lang js|python` projects in this
# repository) looks for them:
#   plugin-sdk-js/node_modules  componentize-js, from plugin-sdk-js/package-lock.json (npm ci)
#   plugin-sdk-py/.venv         componentize-py, from plugin-sdk-py/requirements.txt
# Needs node >= 18 with npm, and python3 >= 3.10 with venv. Takes about a minute; idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d plugin-sdk-js/node_modules/@bytecodealliance/componentize-js ]; then
    (cd plugin-sdk-js && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ ! -x plugin-sdk-py/.venv/bin/componentize-py ]; then
    python3 -m venv plugin-sdk-py/.venv
    plugin-sdk-py/.venv/bin/pip install --quiet --disable-pip-version-check -r plugin-sdk-py/requirements.txt
fi
echo "guest toolchains: componentize-js $(node -p 'require("./plugin-sdk-js/node_modules/@bytecodealliance/componentize-js/package.json").version'), $(plugin-sdk-py/.venv/bin/componentize-py --version)"
