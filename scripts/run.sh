#!/usr/bin/env bash
# Builds vizcast (release) and runs it with the built-in demo: the desktop window where a display
# exists, headless otherwise; browsers are served either way. Extra arguments go to vizcast.
# Where there is no display, it builds vizcast without the desktop window (`--no-default-features`):
# the window's stack is most of the first build, and it could not open anyway.
# Usage: scripts/run.sh [--share] [--listen ADDR] [--headless] ...
set -euo pipefail
cd "$(dirname "$0")/.."

# Installs Debian packages that are missing (as root, or through sudo), where apt exists.
apt_install() {
    command -v apt-get >/dev/null || return 0
    local missing=()
    for package in "$@"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

command -v cargo >/dev/null || { echo "vizcast is built with Rust: install the Rust toolchain (1.95+)" >&2; exit 1; }
# The browser viewer is bundled with Node.js at build time.
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "vizcast's browser viewer is built with Node.js: install Node.js 18+ and npm" >&2
    exit 1
fi
features=()
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    # A Vulkan driver for the window (Mesa's covers GPUs and, with lavapipe, machines without one).
    apt_install mesa-vulkan-drivers libvulkan1
else
    echo "no display found: building vizcast without the desktop window (headless)" >&2
    features=(--no-default-features)
fi
[ -d web/node_modules ] || npm ci --prefix web --no-audit --no-fund
exec cargo run --release --locked "${features[@]}" -- --demo "$@"
