"""
Draw the site's figures from text and data kept in the repository, each time the site builds.

- ``docs/data/*.seq``: a sequence diagram, one message a line (``A -> B: what``), a ``lanes:``
  line naming the columns, ``note LANE: text`` for a remark, ``---`` for a break;
- ``docs/data/*.csv``: a benchmark table, drawn as the plot its first comment line names.

The PNGs land in ``docs/_generated/`` (not in git), so a figure cannot drift from its source.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

BLUE, DARK, GREY = "#3a6fc4", "#1a3a6b", "#777777"


def draw_sequence(source: Path, target: Path) -> None:
    """A sequence diagram: lanes left to right, one row per message, note or break."""
    lanes: list[str] = []
    rows: list[tuple[str, ...]] = []
    for raw in source.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("lanes:"):
            lanes = [lane.strip() for lane in line[len("lanes:") :].split("|")]
        elif line == "---":
            rows.append(("break",))
        elif line.startswith("note "):
            lane, _, text = line[5:].partition(":")
            rows.append(("note", lane.strip(), text.strip()))
        else:
            arrow, _, label = line.partition(":")
            left, _, right = arrow.partition("->")
            rows.append(("msg", left.strip(), right.strip(), label.strip()))
    unknown = {name for row in rows if row[0] != "break" for name in row[1 : 3 if row[0] == "msg" else 2]} - set(lanes)
    if unknown:
        raise ValueError(f"{source.name}: lanes {sorted(unknown)} are not in its 'lanes:' line")
    x = {lane: i * 3.0 for i, lane in enumerate(lanes)}
    height = 0.55 * (len(rows) + 2)
    fig, ax = plt.subplots(figsize=(3.0 * len(lanes) + 1, height))
    for lane, pos in x.items():
        ax.text(pos, 0, lane, ha="center", va="bottom", fontsize=10, weight="bold", color=DARK)
        ax.plot([pos, pos], [-0.3, -(len(rows) + 0.5)], color=GREY, lw=0.8, ls=":")
    for i, row in enumerate(rows, start=1):
        y = -i
        if row[0] == "break":
            ax.axhline(y, color="#c44", lw=1.2, ls="--")
        elif row[0] == "note":
            ax.text(
                x[row[1]],
                y,
                row[2],
                ha="center",
                va="center",
                fontsize=8.5,
                style="italic",
                bbox={"boxstyle": "round", "fc": "#fff7d6", "ec": "#d8c27a"},
            )
        else:
            _, left, right, label = row
            ax.annotate(
                "", xy=(x[right], y), xytext=(x[left], y), arrowprops={"arrowstyle": "->", "color": BLUE, "lw": 1.4}
            )
            ax.text((x[left] + x[right]) / 2, y + 0.12, label, ha="center", va="bottom", fontsize=8.5)
    ax.set_xlim(-1.6, 3.0 * (len(lanes) - 1) + 1.6)
    ax.set_ylim(-(len(rows) + 0.8), 0.6)
    ax.axis("off")
    fig.savefig(target, dpi=110, bbox_inches="tight")
    plt.close(fig)


def draw_table(source: Path, target: Path) -> None:
    """A benchmark CSV. First line ``# kind=line|bars title=... x=... y=...``; then the table."""
    lines = source.read_text().splitlines()
    spec: dict[str, Any] = dict(part.split("=", 1) for part in lines[0].lstrip("# ").split(";"))
    table = list(csv.DictReader(line for line in lines[1:] if line and not line.startswith("#")))
    columns = [c for c in table[0] if c != spec["x"]]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    labels = [row[spec["x"]] for row in table]
    if spec["kind"] == "bars":
        width = 0.8 / len(columns)
        for i, column in enumerate(columns):
            positions = [j + i * width for j in range(len(table))]
            ax.bar(positions, [float(row[column]) for row in table], width, label=column)
        ax.set_xticks([j + width * (len(columns) - 1) / 2 for j in range(len(table))], labels)
    else:
        for column in columns:
            ax.plot([float(v) for v in labels], [float(row[column]) for row in table], marker="o", label=column)
    ax.set_title(spec["title"], fontsize=11)
    ax.set_xlabel(spec["x"])
    ax.set_ylabel(spec["y"])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(target, dpi=110, bbox_inches="tight")
    plt.close(fig)


def build_figures(app: Any) -> None:
    """Draw every figure before Sphinx reads the pages that show them."""
    docs = Path(app.srcdir)
    out = docs / "_generated"
    out.mkdir(exist_ok=True)
    for source in sorted((docs / "data").glob("*.seq")):
        draw_sequence(source, out / f"{source.stem}.png")
    for source in sorted((docs / "data").glob("*.csv")):
        draw_table(source, out / f"{source.stem}.png")


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", build_figures)
    return {"parallel_read_safe": True, "version": "1"}
