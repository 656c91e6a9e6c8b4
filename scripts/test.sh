#!/usr/bin/env bash
# The whole test suite, from a fresh machine: formatting, lints, layering rules, every test.
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*"; }

# The Rust toolchain (with rustfmt and clippy) comes with the machine; everything else the tests
# need is installed here when missing.
for tool in cargo rustfmt cargo-clippy; do
    command -v "$tool" >/dev/null || { echo "missing $tool: install the Rust toolchain with rustfmt and clippy" >&2; exit 1; }
done

say "formatting (cargo fmt --check)"
cargo fmt --all -- --check

say "lints (cargo clippy -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "layering (ARCHITECTURE.md: the protocol crate depends on no async runtime, no network, no UI)"
forbidden=$(cargo tree --locked -p vizcast-protocol -e normal --prefix none | grep -E '^(tokio|axum|hyper|tungstenite|eframe|egui|wgpu) ' || true)
if [ -n "$forbidden" ]; then
    echo "vizcast-protocol must not depend on: $forbidden" >&2
    exit 1
fi

say "tests (cargo test)"
cargo test --workspace --locked
