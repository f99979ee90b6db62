"""A line-level three-way merge (diff3) on difflib: the regions where the source or the destination changed
a file's base version, each either taken from the side that changed it or, where both changed the same
lines differently, a conflict."""

import difflib
from dataclasses import dataclass

SIDES = ("source", "destination")


@dataclass(frozen=True)
class Hunk:
    """Lines [start, end) of each version (0-based) in one changed region."""

    base: range
    source: range
    destination: range
    is_conflict: bool


@dataclass(frozen=True)
class LineMerge:
    hunks: list[Hunk]
    merged: list[bytes] | None  # the merged lines; None while a hunk conflicts

    @property
    def conflicts(self) -> int:
        return sum(hunk.is_conflict for hunk in self.hunks)


def merge_lines(base: list[bytes], source: list[bytes], destination: list[bytes]) -> LineMerge:
    versions = {"base": base, "source": source, "destination": destination}
    hunks, merged = [], []
    at = {"base": 0, "source": 0, "destination": 0}
    for stable in [*_stable_regions(base, source, destination), None]:
        end = stable or {name: len(lines) for name, lines in versions.items()}
        region = {name: range(at[name], end[name]) for name in versions}
        parts = {name: versions[name][region[name].start : region[name].stop] for name in versions}
        changed = [side for side in SIDES if parts[side] != parts["base"]]
        if changed:
            conflict = len(changed) == 2 and parts["source"] != parts["destination"]
            hunks.append(Hunk(region["base"], region["source"], region["destination"], conflict))
            merged += parts[changed[0]]
        if stable is None:
            break
        length = stable["length"]
        merged += base[stable["base"] : stable["base"] + length]
        at = {name: stable[name] + length for name in versions}
    return LineMerge(hunks, None if any(h.is_conflict for h in hunks) else merged)


def _stable_regions(base, source, destination):
    """Runs of base lines both sides kept, in order: {"base", "source", "destination": start, "length"}."""
    to_source = _matches(base, source)
    to_destination = _matches(base, destination)
    i = j = 0
    while i < len(to_source) and j < len(to_destination):
        (s_base, s_side, s_len), (d_base, d_side, d_len) = to_source[i], to_destination[j]
        start, end = max(s_base, d_base), min(s_base + s_len, d_base + d_len)
        if start < end:
            yield {
                "base": start,
                "source": s_side + start - s_base,
                "destination": d_side + start - d_base,
                "length": end - start,
            }
        if s_base + s_len < d_base + d_len:
            i += 1
        else:
            j += 1


def _matches(base, side) -> list[tuple[int, int, int]]:
    blocks = difflib.SequenceMatcher(None, base, side, autojunk=False).get_matching_blocks()
    return [(block.a, block.b, block.size) for block in blocks if block.size]
