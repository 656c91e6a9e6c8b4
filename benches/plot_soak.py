"""Draws the soak's samples (benches/soak.rs --csv) as an SVG line chart, with the standard library only.

python3 benches/plot_soak.py soak.csv docs/soak.svg
"""

from __future__ import annotations

import csv
import sys

SERIES = [
    ("rss_mib", "resident memory (MiB)", "#1f77b4"),
    ("history_mib", "late-joiner history (MiB, budget 64)", "#2ca02c"),
    ("log_mib", "live log held (MiB)", "#ff7f0e"),
    ("fds", "file descriptors", "#9467bd"),
    ("threads", "threads", "#8c564b"),
]
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 720, 360, 56, 250, 24, 40


def main(source: str, target: str) -> None:
    with open(source, newline="") as f:
        rows = list(csv.DictReader(f))
    minutes = [float(r["minute"]) for r in rows]
    top = max(max(float(r[key]) for r in rows) for key, _, _ in SERIES)
    top = (int(top / 50) + 1) * 50
    span_x = max(minutes) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(m: float) -> float:
        return LEFT + m / span_x * plot_w

    def y(v: float) -> float:
        return TOP + plot_h - v / top * plot_h

    out = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            'font-family="sans-serif" font-size="11">'
        ),
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
    ]
    for v in range(0, top + 1, 50):
        out.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>'
        )
        out.append(
            f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v}</text>'
        )
    step = 5 if span_x > 20 else 1
    for m in range(0, int(span_x) + 1, step):
        out.append(
            f'<text x="{x(m):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{m}</text>'
        )
    out.append(
        f'<text x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 6}" text-anchor="middle">minutes</text>'
    )
    for i, (key, label, color) in enumerate(SERIES):
        points = " ".join(
            f"{x(m):.1f},{y(float(r[key])):.1f}" for m, r in zip(minutes, rows)
        )
        out.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="1.6" points="{points}"/>'
        )
        ly = TOP + 10 + i * 18
        out.append(
            f'<line x1="{LEFT + plot_w + 14}" x2="{LEFT + plot_w + 34}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="2"/>'
        )
        out.append(f'<text x="{LEFT + plot_w + 40}" y="{ly + 4}">{label}</text>')
    out.append("</svg>")
    with open(target, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
