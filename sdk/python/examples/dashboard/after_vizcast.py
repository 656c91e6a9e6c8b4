"""The same dashboard as a vizcast producer: sample the plant and log it. That is all.

    vizcast &                          # the hub: its window, and http://127.0.0.1:9000/ for browsers
    python after_vizcast.py            # or: python after_vizcast.py --spawn

No buffers, no lock, no rendering, no web server: the hub keeps the history, every browser and
the desktop window draw every sample on their own GPU, live.
"""

from __future__ import annotations

import argparse
import time

from plant import RATE_HZ, Plant

import vizcast as vz


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="the hub's ingest URL (default: VIZCAST_URL or ws://127.0.0.1:9000/ingest)")
    parser.add_argument("--spawn", action="store_true", help="start a local vizcast first")
    parser.add_argument("--seconds", type=float, default=float("inf"), help="stop after this long")
    args = parser.parse_args()
    if args.spawn:
        vz.spawn()
    else:
        vz.connect(args.url)

    plant = Plant()
    start = time.time()
    while time.time() - start < args.seconds:
        reading = plant.read(time.time())
        vz.log("plant", temperature=reading.temperature, pressure=reading.pressure, rpm=reading.rpm, t=reading.t)
        time.sleep(1 / RATE_HZ)
    vz.close()


if __name__ == "__main__":
    main()
