"""The dashboard before: Flask serves a page that polls a matplotlib PNG once a second.

    python before_flask.py            # then open http://127.0.0.1:5000/

A thread samples the plant into ring buffers; every poll takes the lock, draws the last 10 s with
matplotlib and encodes a PNG, for every open page. See README.md for the same dashboard as a
vizcast producer.
"""

from __future__ import annotations

import argparse
import io
import threading
import time
from collections import deque

import matplotlib

matplotlib.use("Agg")  # no display: render to memory
import matplotlib.pyplot as plt
from flask import Flask, Response
from plant import RATE_HZ, Plant, Reading

WINDOW_S = 10
PAGE = """<!doctype html><title>plant</title>
<img id=plot src="/plot.png" width=800>
<script>setInterval(() => { plot.src = "/plot.png?" + Date.now(); }, 1000);</script>"""

app = Flask(__name__)
_lock = threading.Lock()
_readings: deque[Reading] = deque(maxlen=WINDOW_S * RATE_HZ)


def sample_forever(plant: Plant) -> None:
    """Samples the plant at RATE_HZ into the ring buffer."""
    while True:
        reading = plant.read(time.time())
        with _lock:
            _readings.append(reading)
        time.sleep(1 / RATE_HZ)


@app.route("/")
def page() -> str:
    """The page: one image, reloaded every second."""
    return PAGE


@app.route("/plot.png")
def plot() -> Response:
    """The last WINDOW_S seconds, drawn on the server for each poll of each page."""
    with _lock:
        readings = list(_readings)
    figure, axes = plt.subplots(3, 1, figsize=(8, 6), sharex=True)
    t = [r.t - readings[-1].t for r in readings] if readings else []
    for ax, name in zip(axes, ("temperature", "pressure", "rpm"), strict=True):
        ax.plot(t, [getattr(r, name) for r in readings])
        ax.set_ylabel(name)
    axes[-1].set_xlabel("seconds")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return Response(buffer.getvalue(), mimetype="image/png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    threading.Thread(target=sample_forever, args=(Plant(),), daemon=True).start()
    app.run(host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
