"""One peer, one round, in a fresh process: `python -m benchmarks.child ...` (cli.py runs it).

For each workload: `warmup + repeats` runs, each preceded (untimed) by putting the tables into
the workload's state and `gc.collect()`, and followed (untimed) by the check. The first
`warmup` runs are checked but not kept. With `--memory` the process runs only the streaming
workload, once, and reports its peak RSS (a process-lifetime figure, hence its own process).

Outcomes per workload: "ok"; "n/a" when the peer raises NotImplementedError or AttributeError
(an API it does not have yet); "wrong" when a check fails; "error" for anything else. The
result is written as JSON to --out.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import time
import traceback
from typing import Any

from benchmarks import peers
from benchmarks.peers.base import Peer
from benchmarks.scratch import Admin
from benchmarks.target import Target
from benchmarks.workloads import FULL, QUICK, STREAM, WORKLOADS, Dataset, Workload, WrongResult

NOT_AVAILABLE = (NotImplementedError, AttributeError, ImportError)


def describe(exc: BaseException) -> str:
    """`Type: message (file:line)` of the innermost frame: enough to find the gap."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}{where}"


def outcome(exc: BaseException) -> str:
    if isinstance(exc, WrongResult):
        return "wrong"
    return "n/a" if isinstance(exc, NOT_AVAILABLE) else "error"


async def measure(
    peer: Peer, admin: Admin, data: Dataset, workload: Workload, warmup: int, repeats: int
) -> dict[str, Any]:
    samples: list[float] = []
    stage = "run"
    try:
        for index in range(warmup + repeats):
            stage = "prepare"
            await workload.prepare(admin, data)
            gc.collect()
            stage = "run"
            start = time.perf_counter()
            result = await workload.run(peer, data)
            elapsed = time.perf_counter() - start
            stage = "check"
            await workload.check(peer, admin, data, result)
            del result
            if index >= warmup:
                samples.append(elapsed)
    except Exception as exc:
        admin.state = "unknown"
        status = outcome(exc) if stage == "run" or isinstance(exc, WrongResult) else "error"
        return {"status": status, "samples": samples, "reason": f"{stage}: {describe(exc)}"}
    return {"status": "ok", "samples": samples, "reason": ""}


def rss_mib() -> float:
    import psutil  # type: ignore[import-untyped]

    return float(psutil.Process().memory_info().rss) / 2**20


async def measure_memory(peer: Peer, data: Dataset) -> dict[str, Any]:
    gc.collect()
    baseline = rss_mib()
    try:
        start = time.perf_counter()
        result = await STREAM.run(peer, data)
        elapsed = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        await STREAM.check(peer, None, data, result)  # type: ignore[arg-type]
    except Exception as exc:
        return {"status": outcome(exc), "samples": [], "reason": describe(exc)}
    return {
        "status": "ok",
        "samples": [elapsed],
        "reason": "",
        "baseline_mib": round(baseline, 1),
        "peak_mib": round(peak, 1),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    target = Target.from_json(args.target)
    data = Dataset(QUICK if args.quick else FULL)
    report: dict[str, Any] = {"peer": args.peer, "status": "ok", "reason": "", "workloads": {}}
    try:
        peer = peers.load(args.peer)
        await peer.open(target)
    except Exception as exc:
        report.update(status=outcome(exc), reason=f"setup: {describe(exc)}")
        return report
    try:
        if args.memory:
            report["workloads"][STREAM.key] = await measure_memory(peer, data)
            return report
        admin = await Admin.open(target)
        try:
            for workload in WORKLOADS:
                if workload.key in args.workloads:
                    report["workloads"][workload.key] = await measure(
                        peer, admin, data, workload, args.warmup, args.repeats
                    )
        finally:
            await admin.close()
    finally:
        try:
            await peer.close()
        except Exception as exc:
            report["close_error"] = describe(exc)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.child")
    parser.add_argument("--peer", required=True, choices=list(peers.PEERS))
    parser.add_argument("--target", required=True, help="Target as JSON")
    parser.add_argument("--out", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--workloads", type=lambda s: set(s.split(",")), default={w.key for w in WORKLOADS}
    )
    args = parser.parse_args()
    report = asyncio.run(run(args))
    with open(args.out, "w") as out:
        json.dump(report, out)


if __name__ == "__main__":
    main()
