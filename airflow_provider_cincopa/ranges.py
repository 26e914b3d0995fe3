"""Byte-range bookkeeping shared by the uploader (what was acknowledged) and the emulator (what arrived)."""

from __future__ import annotations


def add_range(ranges: list[list[int]], start: int, end: int) -> list[list[int]]:
    """Return ``ranges`` plus ``[start, end)``, sorted and with overlapping or touching ranges merged."""
    merged: list[list[int]] = []
    for lo, hi in sorted([*ranges, [start, end]]):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return merged
