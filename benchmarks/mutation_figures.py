"""Per-module figures of the last mutation-testing run (mutmut 3), from mutants/**/*.py.meta.

Run after ``mutmut run`` (see docs/MUTATION.md):  python benchmarks/mutation_figures.py
Prints, per module and per package, killed / checked with timeouts counted as killed (the
suite did not finish within its CPU-time limit: usually a mutant that loops), the same share
without the timeouts (a loaded machine can push an innocent mutant over the limit: BLAS
threads that spin burn CPU time), survivors and mutants that no selected test reaches.
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code


def figures(root: Path = Path("mutants")) -> dict[str, Counter]:
    out = {}
    for meta in sorted(root.glob("backprop_cli/**/*.py.meta")):
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        if codes:
            out[str(meta.relative_to(root))[:-len(".meta")]] = Counter(
                status_by_exit_code[c] for c in codes.values())
    return out


def line(name: str, c: Counter) -> str:
    killed = c["killed"] + c["timeout"]
    checked = sum(v for k, v in c.items() if k != "not checked")
    pct = f"{100 * killed / checked:5.1f}%" if checked else "    -"
    strict = f"{100 * c['killed'] / checked:5.1f}%" if checked else "    -"
    return (f"| {name} | {killed} / {checked} | {pct} | {strict} | {c['survived']} | {c['no tests']} | "
            f"{c['timeout']} | {c['not checked']} |")


def main() -> int:
    data = figures()
    if not data:
        print("no mutants/ results: run mutmut first", file=sys.stderr)
        return 1
    print("| module | killed / checked | % | % without timeouts | survived | no tests "
          "| (timeouts, in killed) | not run |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    packages: dict[str, Counter] = {}
    for name, c in data.items():
        print(line(name, c))
        pkg = name.rsplit("/", 1)[0] if name.count("/") > 1 else name
        packages.setdefault(pkg, Counter()).update(c)
    print()
    for pkg, c in packages.items():
        print(line(f"**{pkg}**", c))
    return 0


if __name__ == "__main__":
    sys.exit(main())
