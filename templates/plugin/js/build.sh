#!/bin/sh
# Build {{wasm}}: install the pinned componentize-js once, then componentize src/plugin.js.
set -eu
cd "$(dirname "$0")"
[ -d node_modules/@bytecodealliance/componentize-js ] || npm install --no-audit --no-fund
npm run build
