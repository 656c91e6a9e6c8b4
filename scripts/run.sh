#!/usr/bin/env bash
# Builds vizcast (release) and runs it with the built-in demo. Extra arguments go to vizcast.
# Usage: scripts/run.sh [--share] [--listen ADDR] ...
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --release --locked -- --demo "$@"
