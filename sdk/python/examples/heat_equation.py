"""A numpy simulation: the 2D heat equation, sent as a heatmap image, with its totals as scalars.

    python heat_equation.py --spawn          # or --url ws://HOST:PORT/ingest

A plate at 0 with a heat source circling over it; explicit finite differences, a few steps per
frame. Each frame is one ``vz.image`` of the float field (drawn through the turbo colormap, hover
for values) and one ``vz.log`` of the plate's total and peak heat. numpy arrays go as compact
base64 ({"f32": …}), never as lists of numbers.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import vizcast as vz

SIZE = 128
ALPHA = 0.2  # diffusion number: stable below 0.25
STEPS_PER_FRAME = 10
FPS = 30


def step(u: np.ndarray, source: tuple[int, int]) -> None:
    """Advances the field one explicit step in place (edges held at 0), then heats the source."""
    laplacian = u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4 * u[1:-1, 1:-1]
    u[1:-1, 1:-1] += ALPHA * laplacian
    y, x = source
    u[y - 2 : y + 3, x - 2 : x + 3] = 1.0


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

    u = np.zeros((SIZE, SIZE), dtype=np.float32)
    vz.text("sim/events", f"heat equation on a {SIZE}×{SIZE} plate, alpha {ALPHA}")
    start = time.time()
    frame = 0
    while time.time() - start < args.seconds:
        angle = frame / 40.0
        source = (int(SIZE / 2 + SIZE / 4 * math.sin(angle)), int(SIZE / 2 + SIZE / 4 * math.cos(angle)))
        for _ in range(STEPS_PER_FRAME):
            step(u, source)
        now = time.time()
        vz.image("sim/heat", u, colormap="turbo", range=(0.0, 1.0), t=now)
        vz.log("sim/plate", total=float(u.sum()), peak=float(u[1:-1, 1:-1].max()), t=now)
        frame += 1
        time.sleep(max(0.0, start + frame / FPS - time.time()))
    vz.close()


if __name__ == "__main__":
    main()
