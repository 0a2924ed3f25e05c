"""docs/benchmarks.md: the run's table and chart, the method, goals and gaps, profiles."""

from __future__ import annotations


def document(results: dict, table: str) -> str:
    info = results["info"]
    return f"""# Benchmarks

Written by `make bench` ({info['mode']} run) on {info['started']}, commit `{info['commit']}`:
{info['cpus']} CPUs ({info['cpu']}), Python {info['python']}, load average {info['load_start'][0]:.1f} at the start
and {info['load_end'][0]:.1f} at the end; the run took {info['seconds']:.0f} s.

{table}

![chart](benchmarks.svg)
"""
