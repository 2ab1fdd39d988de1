"""xenectl start-up: wall time of `xenectl --help` against `python -c pass`, same interpreter.

Each sample is a fresh process, as a user (or a shell completing a word) starts it; the runs
alternate so both see the same machine state. Target (issue 9): `xenectl --help` under 150 ms.
Also timed: `xenectl get --help` (imports one command) and the shell completion of a kind
(`xenectl get pi<TAB>`, which must not contact the server).

    python -m bench.cli_startup [--repeat 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.harness import emit

TARGET_MS = 150.0


def xenectl_path() -> str:
    """The xenectl console script of this interpreter's environment."""
    beside = Path(sys.executable).with_name("xenectl")
    if not beside.exists():
        raise SystemExit(f"{beside} not found: pip install -e . first")
    return str(beside)


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Seconds from spawning `argv` to its exit; fails loudly if it did not exit 0."""
    started = time.perf_counter()
    result = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{argv} exited {result.returncode}: {result.stderr.decode()[:500]}")
    return elapsed


def p50_p90_ms(samples: list[float]) -> tuple[float, float]:
    """(median, p90) in milliseconds."""
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p90 * 1000


def main() -> None:
    """Measure and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    xenectl = xenectl_path()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XENE_", "_XENECTL"))}
    # Nothing listens here: the completion of a kind must not try it anyway.
    env["XENE_SERVER"] = "http://127.0.0.1:9"
    completion_env = {
        **env,
        "_XENECTL_COMPLETE": "bash_complete",
        "COMP_WORDS": "xenectl get pi",
        "COMP_CWORD": "2",
    }
    commands = {
        "python": ([sys.executable, "-c", "pass"], env),
        "help": ([xenectl, "--help"], env),
        "get_help": ([xenectl, "get", "--help"], env),
        "complete_kind": ([xenectl], completion_env),
    }
    for argv, command_env in commands.values():
        timed(argv, command_env)  # warm the page cache and .pyc files
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, (argv, command_env) in commands.items():
            samples[name].append(timed(argv, command_env))
    figures: dict[str, object] = {"bench": "cli_startup", "repeat": args.repeat}
    for name, values in samples.items():
        p50, p90 = p50_p90_ms(values)
        figures[f"{name}_p50_ms"] = p50
        figures[f"{name}_p90_ms"] = p90
    python_p50 = float(figures["python_p50_ms"])  # type: ignore[arg-type]
    help_p50 = float(figures["help_p50_ms"])  # type: ignore[arg-type]
    figures["help_ratio_to_python"] = help_p50 / python_p50
    figures["help_minus_python_ms"] = help_p50 - python_p50
    figures["target_ms"] = TARGET_MS
    figures["meets_target"] = help_p50 < TARGET_MS
    emit(figures)


if __name__ == "__main__":
    main()
