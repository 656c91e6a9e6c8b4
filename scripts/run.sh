#!/usr/bin/env bash
# Builds vizcast (release) and runs it with the built-in demo. Extra arguments go to vizcast.
# Usage: scripts/run.sh [--share] [--listen ADDR] ...
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "vizcast's browser viewer is built with Node.js: install Node.js 18+ and npm (Debian: apt-get install nodejs npm)" >&2
    exit 1
fi
[ -d web/node_modules ] || npm ci --prefix web --no-audit --no-fund
exec cargo run --release --locked -- --demo "$@"
