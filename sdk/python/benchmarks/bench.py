"""The Python library's figures, beside its peers, in one run (docs/python.md, "Performance").

    python benchmarks/bench.py                  # VIZCAST_BIN or vizcast on the PATH
    python benchmarks/bench.py --quick --json out.json

1. A scalar ``vz.log`` in the caller's thread, beside ``foxglove.log`` (PyPI foxglove-sdk, its
   server running with one subscribed client) of the same sample, and one ``json.dumps``: the
   caller's wall time per call while the sender thread works beside it, the caller thread's CPU
   per call, and the wall time per call until everything is sent (the sender's share included).
2. ``columns`` with numpy, end to end: samples per second until the hub has counted them all
   (``/api/stats``), and the same into a JSON-lines sink to /dev/null (the producer's own ceiling).
3. A 100,000-point cloud at 30 Hz: the producer's CPU with ``vz.points`` beside sending the same
   cloud by hand as JSON lists (``json.dumps(xyz.tolist())`` over the ``websockets`` client).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import vizcast as vz
from vizcast.sinks import JsonLinesSink, WebSocketSink


def cpu() -> float:
    """The CPU time of this process (all threads), in seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def ingest(hub: vz.SpawnedHub) -> dict[str, Any]:
    with urllib.request.urlopen(hub.url.rstrip("/") + "/api/stats", timeout=10) as response:  # noqa: S310
        return json.loads(response.read())["ingest"]  # type: ignore[no-any-return]


def per_call(loop: Callable[[int], None], n: int, finish: Callable[[], None] = lambda: None) -> dict[str, float]:
    """Runs ``loop(n)``: µs per call of the caller's wall time, its thread's CPU, and wall time to ``finish``."""
    start, start_cpu, start_proc = time.perf_counter(), time.thread_time(), cpu()
    loop(n)
    caller, caller_cpu = time.perf_counter() - start, time.thread_time() - start_cpu
    finish()
    total = time.perf_counter() - start
    return {
        "caller_us": 1e6 * caller / n,
        "caller_cpu_us": 1e6 * caller_cpu / n,
        "until_sent_us": 1e6 * total / n,
        "process_cpu_us": 1e6 * (cpu() - start_proc) / n,
    }


def best(runs: list[dict[str, float]]) -> dict[str, float]:
    """The median of each figure over the runs."""
    return {key: sorted(run[key] for run in runs)[len(runs) // 2] for key in runs[0]}


def scalar_calls(client: vz.Client, n: int, repeats: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}

    def vz_loop(count: int) -> None:
        log = vz.log
        for _ in range(count):
            log("robot/arm/joint1", 0.53)

    def dumps_loop(count: int) -> None:
        dumps, now = json.dumps, time.time
        for _ in range(count):
            dumps({"stream": "robot/arm/joint1", "t": now(), "value": 0.53})

    runs = [per_call(vz_loop, n, lambda: client.flush(120)) for _ in range(repeats)]
    out["vz.log"] = best(runs)
    out["json.dumps"] = best([per_call(dumps_loop, n) for _ in range(repeats)])
    fox = foxglove_calls(n, repeats)
    if fox is not None:
        out["foxglove.log"] = fox
    return out


def foxglove_calls(n: int, repeats: int) -> dict[str, float] | None:
    try:
        import foxglove
    except ImportError:
        return None
    server = foxglove.start_server(host="127.0.0.1", port=0)
    foxglove.log("robot/arm/joint1", {"t": time.time(), "value": 0.53})  # creates the channel
    received = [0]
    stop = threading.Event()
    with connect(f"ws://127.0.0.1:{server.port}", subprotocols=["foxglove.sdk.v1"], max_size=None) as ws:  # type: ignore[list-item]
        channel = None
        while channel is None:
            message = ws.recv(timeout=10)
            if isinstance(message, str):
                parsed = json.loads(message)
                if parsed.get("op") == "advertise":
                    channel = next(c["id"] for c in parsed["channels"] if c["topic"] == "robot/arm/joint1")
        ws.send(json.dumps({"op": "subscribe", "subscriptions": [{"id": 1, "channelId": channel}]}))

        def drain() -> None:
            while not stop.is_set():
                try:
                    ws.recv(timeout=0.1)
                    received[0] += 1
                except TimeoutError:
                    continue
                except Exception:  # noqa: BLE001 - closed at the end
                    return

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()

        def fox_loop(count: int) -> None:
            log, now = foxglove.log, time.time
            for _ in range(count):
                log("robot/arm/joint1", {"t": now(), "value": 0.53})

        result = best([per_call(fox_loop, n) for _ in range(repeats)])
        time.sleep(0.5)
        stop.set()
        reader.join()
    server.stop()
    result["received"] = float(received[0])
    return result


def columns_paced(client: vz.Client, total: int, chunk: int, dtype: str) -> None:
    """Logs ``total`` samples in ``columns`` calls of ``chunk``, then flushes.

    It flushes after every 2 M samples (32 MB), so the queue (64 MiB) never fills: a producer
    that keeps every sample.
    """
    t = np.arange(chunk, dtype=np.float64) * 1e-6
    value = np.sin(t * 1e3).astype(dtype)
    window = max(1, 2_000_000 // chunk)
    for i in range(total // chunk):
        if i % window == 0:
            client.flush(600)
        client.columns("bench/columns", t=t + i, value=value)
    client.flush(600)
    status = client.status()
    assert status.dropped == 0 and status.queued == 0, status


def columns_into_hub(client: vz.Client, hub: vz.SpawnedHub, total: int, chunk: int, dtype: str) -> dict[str, float]:
    """Samples per second until the hub has counted them all."""
    before = ingest(hub)["samples"]
    start, start_cpu = time.perf_counter(), cpu()
    columns_paced(client, total, chunk, dtype)
    while ingest(hub)["samples"] < before + total:
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    return {"samples_per_s": total / elapsed, "producer_cpu_s": cpu() - start_cpu, "seconds": elapsed}


SINK_SERVER = """
import os
from websockets.sync.server import serve
def handler(ws):
    total = 0
    for message in ws:
        total += len(message)
    print(total, flush=True)
    os._exit(0)
with serve(handler, "127.0.0.1", 0, compression=None, max_size=None) as server:
    print(server.socket.getsockname()[1], flush=True)
    server.serve_forever()
"""


def columns_into_null_server(total: int, chunk: int) -> dict[str, float]:
    """Through a real WebSocket to a server in another process that only counts bytes."""
    server = subprocess.Popen([sys.executable, "-c", SINK_SERVER], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    try:
        port = int(server.stdout.readline())
        client = vz.Client(sink=_NoHelloSink(f"ws://127.0.0.1:{port}/"))
        start, start_cpu = time.perf_counter(), cpu()
        columns_paced(client, total, chunk, "float64")
        client.close()
        received = int(server.stdout.readline())
        elapsed = time.perf_counter() - start
    finally:
        server.kill()
        server.wait()
    return {"samples_per_s": total / elapsed, "producer_cpu_s": cpu() - start_cpu, "bytes": float(received)}


class _NoHelloSink(WebSocketSink):
    """A WebSocket sink for a plain server, which says no ``hello``."""

    @property
    def greets(self) -> bool:
        return False


def columns_into_devnull(total: int, chunk: int) -> dict[str, float]:
    """Into a JSON-lines sink to /dev/null: the library's encoding and writing alone."""
    with open(os.devnull, "wb") as null, vz.Client(sink=JsonLinesSink(null)) as client:
        start, start_cpu = time.perf_counter(), cpu()
        columns_paced(client, total, chunk, "float64")
        return {"samples_per_s": total / (time.perf_counter() - start), "producer_cpu_s": cpu() - start_cpu}


def cloud_cpu(url: str, frames: int, points: int) -> dict[str, dict[str, float]]:
    """``frames`` clouds paced at 30 Hz (by hand, JSON lists fall behind: then as fast as they go)."""
    rng = np.random.default_rng(1)
    xyz = rng.normal(size=(points, 3)).astype(np.float32)

    def paced(send: Callable[[], None]) -> dict[str, float]:
        start, start_cpu = time.perf_counter(), cpu()
        for i in range(frames):
            send()
            time.sleep(max(0.0, start + (i + 1) / 30 - time.perf_counter()))
        elapsed, used = time.perf_counter() - start, cpu() - start_cpu
        return {"cpu_percent": 100 * used / elapsed, "cpu_ms_per_cloud": 1e3 * used / frames}

    out: dict[str, dict[str, float]] = {}
    with vz.Client(url) as client:
        client.flush(10)
        out["vz.points"] = paced(lambda: client.points("bench/cloud", xyz))
        client.flush(60)
    with connect(url, compression=None, max_size=None) as ws:
        ws.recv(timeout=10)  # hello
        out["json lists by hand"] = paced(
            lambda: ws.send(json.dumps({"stream": "bench/cloud", "t": time.time(), "points": xyz.tolist()}))
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts: checks that the bench runs")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--hub-samples", type=int, help="samples sent into the hub by columns (default 10 M)")
    args = parser.parse_args()
    quick = args.quick
    calls, repeats = (20_000, 1) if quick else (500_000, 5)
    column_total = 1_000_000 if quick else 50_000_000
    hub_total = args.hub_samples or (500_000 if quick else 10_000_000)
    chunk = 100_000

    client = vz.spawn(headless=True, stop_on_close=True)
    hub = client.hub
    assert hub is not None
    figures: dict[str, Any] = {"python": sys.version.split()[0], "numpy": np.__version__, "hub": vz.find_binary()}
    client.log("warmup", 1.0)
    client.flush(30)
    figures["scalar_log"] = scalar_calls(client, calls, repeats)
    figures["columns"] = {
        "into the hub, f64 values": columns_into_hub(client, hub, hub_total, chunk, "float64"),
        "into the hub, f32 values": columns_into_hub(client, hub, hub_total, chunk, "float32"),
        "into a WebSocket server that only counts": columns_into_null_server(column_total, chunk),
        "into /dev/null (JSON lines)": columns_into_devnull(column_total, chunk),
    }
    figures["cloud_100k_30hz"] = cloud_cpu(hub.ingest_url, 6 if quick else 90, 100_000)
    figures["hub_rejected"] = ingest(hub)["rejected"]
    vz.close()

    for name, row in figures["scalar_log"].items():
        print(
            f"{name:14s} caller {row['caller_us']:6.2f} µs/call   caller CPU {row['caller_cpu_us']:6.2f}   "
            f"until sent {row['until_sent_us']:6.2f}   process CPU {row['process_cpu_us']:6.2f}"
        )
    for name, row in figures["columns"].items():
        print(f"columns {name:42s}: {row['samples_per_s'] / 1e6:6.2f} M samples/s")
    for name, row in figures["cloud_100k_30hz"].items():
        print(
            f"100k cloud at 30 Hz, {name:18s}: {row['cpu_percent']:5.1f} % CPU, {row['cpu_ms_per_cloud']:6.2f} ms/cloud"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
