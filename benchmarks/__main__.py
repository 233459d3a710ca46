"""`python -m benchmarks`: run every benchmark, print the table, write benchmarks/RESULTS.md."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks import baselines, engine, ingest_api, latency_e2e, persist, persist_rules, wrk
from benchmarks import live_viewer as live_viewer_step
from benchmarks import workbench as workbench_step
from benchmarks.context import Config, Context
from benchmarks.environment import Target, fresh_target, servers
from benchmarks.report import Results, markdown_table, print_table
from benchmarks.workload import wire_events

RESULTS_MD = Path(__file__).parent / "RESULTS.md"
STEPS: dict[str, Any] = {
    "baselines": baselines,
    "persist": persist,
    "api": ingest_api,
    "engine": engine,
    "rules": persist_rules,
    "latency": latency_e2e,
    "workbench": workbench_step,
    "live_viewer": live_viewer_step,
}
WIRE_EVENT_STEPS = {"baselines", "persist", "api", "rules"}  # the steps that use ctx.wire_events


def parse_args(argv: list[str] | None) -> tuple[Config, Path]:
    defaults = Config()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--events", type=int, default=defaults.events, help="worker/insert rows")
    parser.add_argument("--duration", type=float, default=defaults.wrk_duration_s, help="wrk s")
    parser.add_argument("--batch-connections", type=int, default=defaults.batch_connections)
    parser.add_argument("--single-connections", type=int, default=defaults.single_connections)
    parser.add_argument("--rate", type=float, default=defaults.fixed_rate, help="fixed req/s")
    parser.add_argument("--rate-duration", type=float, default=defaults.fixed_duration_s)
    parser.add_argument("--profile", type=Path, help="write py-spy flame graphs here")
    parser.add_argument("--out", type=Path, default=RESULTS_MD, help="results file")
    parser.add_argument(
        "--only",
        default=",".join(STEPS),
        help=f"comma-separated subset of {','.join(STEPS)} (ratios need the baselines)",
    )
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(STEPS)
    if unknown:
        parser.error(f"unknown step(s): {', '.join(sorted(unknown))}")
    config = replace(
        defaults,
        events=args.events,
        wrk_duration_s=args.duration,
        batch_connections=args.batch_connections,
        single_connections=args.single_connections,
        fixed_rate=args.rate,
        fixed_duration_s=args.rate_duration,
        profile_dir=args.profile.resolve() if args.profile else None,
        steps=tuple(step for step in STEPS if step in args.only.split(",")),
    )
    return config, args.out


def main(argv: list[str] | None = None) -> int:
    config, out = parse_args(argv)
    if "api" in config.steps and not wrk.available():
        print("wrk is not installed (Debian: apt-get install -y wrk); it drives the API load.")
        return 2
    started = time.monotonic()
    results = Results()
    with tempfile.TemporaryDirectory(prefix="ep-bench-") as tmp:
        workdir = Path(tmp)
        with servers(workdir) as found, fresh_target(found, workdir) as target:
            info = environment_info(target, found.origin)
            print(f"servers: {info['servers']}; database and namespace: {target.namespace}")
            ctx = Context(config, target, workdir, results)
            if WIRE_EVENT_STEPS.intersection(config.steps):
                ctx.wire_events = wire_events(config.events)
            for name in config.steps:
                step = time.monotonic()
                print(f"running {name} …", flush=True)
                STEPS[name].run(ctx)
                print(f"  done in {time.monotonic() - step:.1f} s", flush=True)
    info["suite duration"] = f"{time.monotonic() - started:.0f} s"
    info["load average"] += f" at start; {_load()} at the end"
    title = f"EventPulse benchmarks — {info['date']}, {info['machine']}"
    print_table(results, title)
    for key, value in results.details.items():
        print(f"  {key}: {value}")
    out.write_text(render(results, info, config))
    print(f"written to {out}")
    return 0


def environment_info(target: Target, origin: str) -> dict[str, str]:
    info = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"nproc {os.cpu_count()}, Python {platform.python_version()}",
        "cpu": _cpu_model(),
        "load average": _load(),
        "CPU busy before the run (1 s sample, all cores)": _busy(),
        "os": platform.platform(),
        "servers": f"{origin}: PostgreSQL {_where(target.database_url)}, "
        f"Redis {_where(target.redis_url)}",
    }
    with target.connect(autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        settings = conn.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s) "
            "ORDER BY name",
            (["shared_buffers", "synchronous_commit", "fsync", "wal_level", "max_wal_size"],),
        ).fetchall()
    info["postgresql"] = f"{version[0] if version else '?'}; " + ", ".join(
        f"{name}={value}" for name, value in settings
    )
    client = target.redis()
    try:
        server: Any = client.info("server")
        persistence: Any = client.info("persistence")
        aof = "yes" if persistence.get("aof_enabled") else "no"
        info["redis"] = f"{server.get('redis_version')}; appendonly={aof}"
    finally:
        client.close()
    return info


def _load() -> str:
    """1/5/15-minute load averages: other work on the machine skews every number."""
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def _busy() -> str:
    """Share of CPU time other work used just before the run (Linux /proc/stat)."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields), idle

    try:
        total0, idle0 = sample()
        time.sleep(1.0)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return "?"
    return f"{100 * (1 - (idle1 - idle0) / max(1, total1 - total0)):.0f}%"


def _where(url: str) -> str:
    parts = urlsplit(url)
    if parts.hostname:
        return f"{parts.scheme}://{parts.hostname}:{parts.port or ''}"
    return f"{parts.scheme} (unix socket)"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def render(results: Results, info: dict[str, str], config: Config) -> str:
    lines = [
        "# EventPulse benchmark results",
        "",
        "Written by `python -m benchmarks` (see benchmarks/README.md for what each number means);",
        "overwritten on every run.",
        "",
        *(f"- **{key}**: {value}" for key, value in info.items()),
        "",
        markdown_table(results),
        "",
    ]
    if results.notes:
        lines += ["## Notes", "", *(f"- {text}" for text in results.notes), ""]
    lines += ["## Details", "", *(f"- {key}: {value}" for key, value in results.details.items())]
    lines += ["", "## Settings", "", "```"]
    lines += [f"{key} = {value}" for key, value in config.as_dict().items()]
    lines += ["```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
