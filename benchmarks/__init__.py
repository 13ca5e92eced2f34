"""sqlmodelx benchmark suite: `python -m benchmarks --backend sqlite|postgres|mysql|all`.

Layout, in the order data flows:

    target.py     where a run points (backend, scratch database) and each library's URL for it
    drivers.py    thin adapters over aiosqlite / asyncpg / aiomysql (raw peer + harness checks)
    scratch.py    create/drop the scratch database, schema, seed data, table states
    workloads.py  W1..W8 + streaming: data, expected answers, checks
    peers/        one module per peer, all implementing `peers.base.Peer`
    child.py      one peer, one round, in a fresh process: prepare, time, check
    cli.py        the command: rounds, rotation, medians, the table, --json, exit status

See README.md.
"""
