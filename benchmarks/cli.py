"""`python -m benchmarks`: the whole run, from scratch databases to the table.

Per backend: create the scratch database and schema; then for each round, run every peer in
its own fresh process (child.py), in an order rotated by one each round so no peer always
runs first or last; then the streaming workload, one process per peer; then drop the
database. Medians are over every kept repeat of every round.

Exit status: 1 if any peer returned a wrong result, else 2 if anything raised an unexpected
error (or a backend was unreachable), else 0. Time never fails a run; "n/a" (an API the peer
lacks) does not either.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import report, scratch
from benchmarks.drivers import connect
from benchmarks.peers import DISTRIBUTIONS, PEERS
from benchmarks.target import BACKENDS, Target
from benchmarks.workloads import FULL, QUICK, WORKLOADS

REPO = Path(__file__).resolve().parent.parent
SERVER_URLS = {
    "postgres": os.environ.get("SX_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432"),
    "mysql": os.environ.get("SX_BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306"),
    "sqlite": "",
}
VERSION_SQL = {
    "sqlite": "SELECT 'SQLite ' || sqlite_version()",
    "postgres": "SHOW server_version",
    "mysql": "SELECT VERSION()",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--backend", default="all", choices=[*BACKENDS, "all"])
    parser.add_argument(
        "--quick", action="store_true", help="10x fewer rows, fewer repeats: a smoke run"
    )
    parser.add_argument(
        "--peers", default=",".join(PEERS), help="comma-separated; raw is always run"
    )
    parser.add_argument(
        "--workloads", default=",".join(w.key for w in WORKLOADS), help="e.g. W1,W3"
    )
    parser.add_argument("--rounds", type=int, help="fresh processes per peer (default 5, quick 2)")
    parser.add_argument(
        "--repeats", type=int, help="timed runs per workload per round (default 2, quick 1)"
    )
    parser.add_argument("--warmup", type=int, default=1, help="untimed (but checked) runs first")
    parser.add_argument("--no-memory", action="store_true", help="skip the streaming workload")
    parser.add_argument("--json", metavar="FILE", help="also write every figure and sample here")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per child process")
    parser.add_argument(
        "--sqlmodelx-rev",
        metavar="REV",
        help="measure sqlmodelx as committed at REV (e.g. HEAD), not the working tree",
    )
    parser.add_argument("--postgres-url", default=SERVER_URLS["postgres"])
    parser.add_argument("--mysql-url", default=SERVER_URLS["mysql"])
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (2 if args.quick else 5)
    args.repeats = args.repeats or (1 if args.quick else 2)
    names = [p for p in args.peers.split(",") if p]
    unknown = [p for p in names if p not in PEERS]
    if unknown:
        parser.error(f"unknown peer(s) {unknown}; choose from {list(PEERS)}")
    args.peer_list = ["raw", *[p for p in PEERS if p in names and p != "raw"]]
    return args


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_child(args: argparse.Namespace, peer: str, target: Target, memory: bool) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        out_path = out.name
    command = [
        sys.executable, "-m", "benchmarks.child",
        "--peer", peer, "--target", target.to_json(), "--out", out_path,
        "--warmup", str(args.warmup), "--repeats", str(args.repeats), "--workloads", args.workloads,
    ]  # fmt: skip
    command += ["--quick"] * args.quick + ["--memory"] * memory
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [*args.sqlmodelx_path, str(REPO), os.environ.get("PYTHONPATH", "")]
        ),
    }
    cwd = (args.sqlmodelx_path or [REPO])[0]  # `-m` puts the cwd first on sys.path
    try:
        proc = subprocess.run(
            command,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=args.timeout,
        )
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            return {
                "peer": peer,
                "status": "error",
                "reason": f"child exited {proc.returncode}: {tail}",
            }
        with open(out_path) as result:
            child: dict[str, Any] = json.load(result)
            return child
    except subprocess.TimeoutExpired:
        return {
            "peer": peer,
            "status": "error",
            "reason": f"child timed out after {args.timeout:.0f}s",
        }
    finally:
        os.unlink(out_path)


async def server_version(target: Target) -> str:
    driver = await connect(target)
    try:
        return str(await driver.fetchval(VERSION_SQL[target.backend]))
    finally:
        await driver.close()


def run_backend(args: argparse.Namespace, backend: str) -> dict[str, Any]:
    url = args.postgres_url if backend == "postgres" else args.mysql_url
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    target = asyncio.run(scratch.create(backend, url))
    try:
        progress(f"[{backend}] schema and {sizes.stream:,} stream rows ...")
        asyncio.run(scratch.create_schema(target, 0 if args.no_memory else sizes.stream))
        server = asyncio.run(server_version(target))
        peers: dict[str, dict[str, Any]] = {p: {} for p in args.peer_list}
        for round_no in range(args.rounds):
            shift = round_no % len(args.peer_list)
            order = args.peer_list[shift:] + args.peer_list[:shift]
            progress(f"[{backend}] round {round_no + 1}/{args.rounds}: {' '.join(order)}")
            for peer in order:
                report.merge(peers[peer], run_child(args, peer, target, memory=False))
        if not args.no_memory:
            progress(f"[{backend}] streaming {sizes.stream:,} rows, one process per peer")
            for peer in args.peer_list:
                report.merge(peers[peer], run_child(args, peer, target, memory=True))
    finally:
        asyncio.run(scratch.drop(target))
    report.summarise(peers)
    return {
        "server": server,
        "seconds": round(time.perf_counter() - started, 1),
        "load_after": round(os.getloadavg()[1], 2),  # 5-minute load: was the machine quiet?
        "peers": peers,
    }


def versions(peer_list: list[str]) -> dict[str, str]:
    found = {}
    for dist in sorted({d for p in peer_list for d in DISTRIBUTIONS[p]}):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "not installed"
    return found


def git(*command: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *command], capture_output=True, text=True, check=True
    ).stdout.strip()


def sqlmodelx_source(args: argparse.Namespace, scratch_dir: str) -> str:
    """Set `args.sqlmodelx_path` (prepended to the children's PYTHONPATH) and describe it.

    Others commit to the library while a run goes on; `--sqlmodelx-rev` measures one fixed
    commit, exported outside the checkout, so every round times the same code."""
    args.sqlmodelx_path = []
    try:
        if args.sqlmodelx_rev:
            commit = git("rev-parse", "--short", args.sqlmodelx_rev)
            archive = subprocess.run(
                ["git", "-C", str(REPO), "archive", commit, "sqlmodelx"],
                capture_output=True,
                check=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", scratch_dir], input=archive, check=True)
            args.sqlmodelx_path = [scratch_dir]
            return f"commit {commit}"
        dirty = git("status", "--porcelain", "--", "sqlmodelx")
        return f"working tree at {git('rev-parse', '--short', 'HEAD')}" + (
            " + uncommitted changes" if dirty else ""
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        if args.sqlmodelx_rev:
            raise SystemExit(f"--sqlmodelx-rev {args.sqlmodelx_rev}: {exc}") from exc
        return "working tree (not a git checkout?)"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sx_bench_src_") as scratch_dir:
        args.sqlmodelx_source = sqlmodelx_source(args, scratch_dir)
        return run(args, argv)


def run(args: argparse.Namespace, argv: list[str] | None) -> int:
    backends = list(BACKENDS) if args.backend == "all" else [args.backend]
    results: dict[str, Any] = {}
    unreachable = []
    for backend in backends:
        try:
            results[backend] = run_backend(args, backend)
        except OSError as exc:  # server not listening, or refused: say so and carry on
            progress(f"[{backend}] unreachable: {exc}")
            unreachable.append(backend)
    sizes = QUICK if args.quick else FULL
    lib_versions = versions(args.peer_list)
    print(
        f"\nsqlmodelx benchmarks: {'quick' if args.quick else 'full'} sizes ({sizes.authors:,} rows,"
        f" {sizes.loops:,} loops, {sizes.stream:,} streamed), {args.rounds} rounds x {args.repeats}"
        f" repeats (+{args.warmup} warm-up), median ms and ratio to raw; Python {platform.python_version()},"
        f" {os.cpu_count()} CPUs"
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in lib_versions.items()))
    print(f"sqlmodelx measured from: {args.sqlmodelx_source}")
    statuses = set()
    for backend, result in results.items():
        print(
            f"\n== {backend}: {result['server']} ({result['seconds']:.0f}s,"
            f" 5-min load average {result['load_after']:.2f} on {os.cpu_count()} CPUs) =="
        )
        print("\n".join(report.table(result["peers"], args.peer_list)))
        issues = report.problems(result["peers"], args.peer_list)
        if issues:
            print("n/a, errors, wrong results:\n" + "\n".join(issues))
        for summary in result["peers"].values():
            statuses.add(summary.get("status", "ok"))
            statuses.update(slot["status"] for slot in summary.get("workloads", {}).values())
    if args.json:
        payload = {
            "argv": sys.argv[1:] if argv is None else argv,
            "quick": args.quick,
            "rounds": args.rounds,
            "repeats": args.repeats,
            "warmup": args.warmup,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "versions": lib_versions,
            "sqlmodelx_source": args.sqlmodelx_source,
            "unreachable": unreachable,
            "backends": results,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2))
    if "wrong" in statuses:
        print("\nFAILED: a peer returned WRONG results (see above)", file=sys.stderr)
        return 1
    if "error" in statuses or unreachable:
        print(
            "\nFAILED: a peer raised an unexpected ERROR, or a backend was unreachable",
            file=sys.stderr,
        )
        return 2
    return 0
