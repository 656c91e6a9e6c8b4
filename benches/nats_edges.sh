#!/usr/bin/env bash
# Producer → edge A → NATS → edge B → viewers, beside viewers of A itself, in one run.
#
# Starts a broker (nats-server with JetStream, on a free loopback port), edge A
# (--nats-publish) and edge B (--nats-subscribe), then runs the load benchmark twice per load:
# producer on A's /ingest, viewers on B's /ws (server CPU: B's), and the same with viewers on
# A's /ws (server CPU: A's). Extra arguments go to both runs (e.g. --viewers 1,10 --seconds 5).
#
# Usage: benches/nats_edges.sh [e2e_load options]
# Needs nats-server: $VIZCAST_NATS_SERVER, or the one scripts/test.sh installs under target/, or on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-$PWD/target}"
# The broker the tests use (2.15.1, which scripts/test.sh installs) before one on PATH (Debian's is
# 2.9.10); say which.
server="${VIZCAST_NATS_SERVER:-$target/tmp/nats-deps/bin/nats-server}"
[ -x "$server" ] || server=$(command -v nats-server || true)
[ -x "$server" ] || { echo "no nats-server: run scripts/test.sh once, or set VIZCAST_NATS_SERVER" >&2; exit 1; }
echo "broker: $("$server" --version)"

bench=$(cargo bench --locked --no-default-features --bench e2e_load --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "e2e_load" and m.get("executable"):
        print(m["executable"])')
vizcast="$target/release/vizcast"

work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# max_payload is set in a configuration file only: 8 MiB, for large clouds.
echo "max_payload: 8388608" >"$work/broker.conf"
"$server" -c "$work/broker.conf" -a 127.0.0.1 -p -1 -js -sd "$work/store" --ports_file_dir "$work" >"$work/broker.log" 2>&1 &
pids+=($!)
broker_pid=$!
for _ in $(seq 100); do ls "$work"/*.ports >/dev/null 2>&1 && break; sleep 0.05; done
ls "$work"/*.ports >/dev/null 2>&1 || { echo "nats-server did not start: $(cat "$work/broker.log")" >&2; exit 1; }
broker=$(python3 -c 'import glob,json,sys; print(json.load(open(glob.glob(sys.argv[1] + "/*.ports")[0]))["nats"][0])' "$work")

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
start_edge() { # port, args...
    local port=$1
    shift
    RUST_LOG=warn "$vizcast" --headless --listen "127.0.0.1:$port" "$@" >"$work/edge-$port.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return; sleep 0.05; done
    echo "edge on $port did not start: $(cat "$work/edge-$port.log")" >&2
    exit 1
}
a_port=$(free_port)
start_edge "$a_port" --nats-publish "$broker" --nats-name edge-a
a_pid=${pids[-1]}
b_port=$(free_port)
start_edge "$b_port" --nats-subscribe "$broker" --nats-name edge-b
b_pid=${pids[-1]}

echo "## Viewers of edge B (producer → A → NATS → B → viewer); server CPU is B's"
"$bench" --ingest "ws://127.0.0.1:$a_port/ingest" --subscribe "ws://127.0.0.1:$b_port/ws" --pid "$b_pid" "$@"
echo
echo "## Viewers of edge A (producer → A → viewer), same run; server CPU is A's (it also publishes)"
"$bench" --ingest "ws://127.0.0.1:$a_port/ingest" --subscribe "ws://127.0.0.1:$a_port/ws" --pid "$a_pid" "$@"
echo
echo "## The edges' NATS counters"
for port in "$a_port" "$b_port"; do
    python3 - "$port" <<'EOF'
import json, sys, urllib.request
stats = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/api/stats"))
print(sys.argv[1], json.dumps(stats.get("nats"), sort_keys=True))
EOF
done
echo
echo "## CPU seconds of each process over the whole run (both loads)"
for named in "broker:$broker_pid" "A:$a_pid" "B:$b_pid"; do
    python3 - "${named%%:*}" "${named##*:}" <<'EOF'
import os, sys
fields = open(f"/proc/{sys.argv[2]}/stat").read().rsplit(")", 1)[1].split()
print(f"{sys.argv[1]}: {(int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK'):.1f} s")
EOF
done
