"""From the children's raw reports to figures: merge rounds, medians, ratios to raw, geo-means,
and the plain-text table.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from benchmarks.workloads import STREAM, WORKLOADS

# When rounds disagree, the worst outcome wins: a wrong answer in any round is a wrong answer.
SEVERITY = {"ok": 0, "n/a": 1, "error": 2, "wrong": 3}
TITLES = {w.key: w.title for w in [*WORKLOADS, STREAM]}


def merge(into: dict[str, Any], child: dict[str, Any]) -> None:
    """Fold one child's report (one peer, one round) into the peer's running summary."""
    if SEVERITY[child["status"]] > SEVERITY[into.get("status", "ok")]:
        into["status"], into["reason"] = child["status"], child["reason"]
    into.setdefault("status", "ok")
    into.setdefault("reason", "")
    for key, result in child.get("workloads", {}).items():
        slot = into.setdefault("workloads", {}).setdefault(
            key, {"status": "ok", "reason": "", "samples": []}
        )
        slot["samples"].extend(result["samples"])
        if SEVERITY[result["status"]] > SEVERITY[slot["status"]]:
            slot["status"], slot["reason"] = result["status"], result["reason"]
        for extra in ("baseline_mib", "peak_mib"):
            if extra in result:
                slot[extra] = max(slot.get(extra, 0.0), result[extra])


def summarise(peers: dict[str, dict[str, Any]]) -> None:
    """Add median_ms, ratio (to raw's median) and the per-peer geo-mean, in place."""
    for summary in peers.values():
        for slot in summary.get("workloads", {}).values():
            ok = slot["status"] == "ok" and slot["samples"]
            slot["median_ms"] = statistics.median(slot["samples"]) * 1000 if ok else None
    raw = peers.get("raw", {}).get("workloads", {})
    for summary in peers.values():
        ratios = []
        for key, slot in summary.get("workloads", {}).items():
            floor = raw.get(key, {}).get("median_ms")
            slot["ratio"] = slot["median_ms"] / floor if slot["median_ms"] and floor else None
            if slot["ratio"] and key != STREAM.key:
                ratios.append(slot["ratio"])
        summary["geomean"] = math.exp(statistics.fmean(map(math.log, ratios))) if ratios else None
        summary["geomean_over"] = len(ratios)


def _cell(slot: dict[str, Any] | None, width: int) -> str:
    if slot is None:
        return "-".rjust(width)
    if slot["status"] != "ok":
        return {"n/a": "n/a", "error": "ERROR", "wrong": "WRONG"}[slot["status"]].rjust(width)
    if "peak_mib" in slot:
        return f"{slot['peak_mib']:.0f}MiB {slot['median_ms'] / 1000:.2f}s".rjust(width)
    ratio = "  -  " if slot["ratio"] is None else f"{slot['ratio']:.2f}x"  # raw not measured
    return f"{slot['median_ms']:.1f} {ratio}".rjust(width)


def table(peers: dict[str, dict[str, Any]], order: Sequence[str]) -> list[str]:
    width = 16
    keys = [
        w.key
        for w in [*WORKLOADS, STREAM]
        if any(w.key in peers[p].get("workloads", {}) for p in order)
    ]
    lines = ["workload (ms, x raw)".ljust(24) + "".join(p.rjust(width) for p in order)]
    for key in keys:
        label = f"{key} {TITLES[key]}"
        lines.append(
            label.ljust(24)
            + "".join(_cell(peers[p].get("workloads", {}).get(key), width) for p in order)
        )
    geo = []
    for p in order:
        summary = peers[p]
        mean = summary.get("geomean")
        if mean is None:
            geo.append("n/a".rjust(width))
            continue
        complete = summary["geomean_over"] == sum(
            1
            for k, s in peers["raw"].get("workloads", {}).items()
            if k != STREAM.key and s.get("median_ms")
        )
        geo.append(
            (f"{mean:.2f}x" + ("" if complete else f" ({summary['geomean_over']}w)")).rjust(width)
        )
    lines.append("geo-mean W1-W8".ljust(24) + "".join(geo))
    return lines


def problems(peers: dict[str, dict[str, Any]], order: Sequence[str]) -> list[str]:
    """One line per peer-level failure, and per workload that is not ok, with the reason."""
    lines = []
    for p in order:
        summary = peers[p]
        if summary.get("status", "ok") != "ok":
            lines.append(f"  {p}: {summary['status']} ({summary['reason']})")
            continue
        by_reason: dict[tuple[str, str], list[str]] = {}
        for key, slot in summary.get("workloads", {}).items():
            if slot["status"] != "ok":
                by_reason.setdefault((slot["status"], slot["reason"]), []).append(key)
        for (status, reason), keys in by_reason.items():
            lines.append(f"  {p} {','.join(keys)}: {status} ({reason})")
    return lines
