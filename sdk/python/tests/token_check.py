"""Run by test_connection.py inside ``unshare --net``: a hub on a non-loopback address of a private
network namespace, so that producers need the ingest token. Prints a JSON report on its last line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import Hub, wait_until

import vizcast as vz

ADDRESS = "198.18.0.1"  # a benchmarking-range address, on this namespace's own loopback device


def main() -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "addr", "add", f"{ADDRESS}/32", "dev", "lo"], check=True)
    hub = Hub("--ingest-token", "right-token", host=ADDRESS)
    try:
        url = f"ws://{ADDRESS}:{hub.port}/ingest"
        wrong = vz.Client(url, token="wrong-token", max_backoff=0.1)
        wait_until(lambda: wrong.status().last_error is not None, what="the refusal")
        wrong_status = wrong.status()
        wrong.close(0)
        right = vz.Client(url, token="right-token")
        for i in range(10):
            right.log("a", i)
        assert right.flush(10)
        right_status = right.status()
        right.close()
        stats_url = f"http://{ADDRESS}:{hub.port}/api/stats?token={hub.token}"
        deadline = time.monotonic() + 10
        while True:
            with urllib.request.urlopen(stats_url, timeout=10) as response:
                ingest = json.loads(response.read())["ingest"]
            if ingest["frames"] > 0 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        hub.stop()
    report = {
        "wrong": {"connected": wrong_status.connected, "last_error": wrong_status.last_error},
        "right": {"connected": right_status.connected, "sent": right_status.sent},
        "ingest": ingest,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
