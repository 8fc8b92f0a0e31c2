"""Shell completion candidates: run folders for RUN_DIR arguments, config keys for --set.

Plain functions of the word being completed; ``cli.py`` hands them to click's completion
(``_BACKPROP_COMPLETE``, README "Shell completion").
"""
from __future__ import annotations

import re
from pathlib import Path

RUNS_DIR = "runs"


def is_run(path: Path) -> bool:
    """A folder ``backprop train`` wrote: its resolved config and its metrics (or, for an
    ensemble, its members' record)."""
    return (path / "config.yaml").is_file() and (
        (path / "metrics.jsonl").is_file() or (path / "ensemble.json").is_file())


def is_sweep(path: Path) -> bool:
    return (path / "results.jsonl").is_file() or (path / "results.csv").is_file()


def run_folders(incomplete: str, sweeps: bool = False) -> list[str]:
    """Run folders (and sweep folders, with ``sweeps``) whose path starts with ``incomplete``:
    in the folder the incomplete path names, and in runs/ while nothing but a name is typed
    (``backprop eval <TAB>`` offers runs/xor-20260101-120000 and the others)."""
    wanted = (lambda p: is_run(p) or is_sweep(p)) if sweeps else is_run
    folder = incomplete[:incomplete.rfind("/") + 1]  # '' or 'a/b/', as typed
    places = [folder] if folder else ["", RUNS_DIR + "/"]
    found = set()
    for place in places:
        try:
            children = list(Path(place or ".").iterdir())
        except OSError:
            continue
        for child in children:
            path = place + child.name
            if (path.startswith(incomplete) and not child.name.startswith(".")
                    and child.is_dir() and wanted(child)):
                found.add(path)
    return sorted(found)


def config_keys() -> list[tuple[str, str]]:
    """Every dotted key ``--set`` takes, with its description: each option of a section, a
    component as a whole (``optimizer``), its name key and every option any of its names
    takes, a list as a whole and its items' keys with index N (``model.layers.N.units``)."""
    from .config import Component, ListOf, Section, schema
    keys: dict[str, str] = {}

    def walk(node, path):
        dotted = ".".join(path)
        if isinstance(node, Section):
            for key, sub in node.fields.items():
                walk(sub, path + (key,))
        elif isinstance(node, ListOf):
            keys[dotted] = node.doc
            walk(node.item, path + ("N",))
        elif isinstance(node, Component):
            if path[-1] != "N":  # a list's item as a whole is the list's business
                keys[dotted] = node.doc
            keys[f"{dotted}.{node.key}"] = f"{node.registry.kind} name"
            for name in node.registry.names():
                for key, opt in node.options_of(name).items():
                    if f"{dotted}.{key}" not in keys:
                        walk(opt, path + (key,))
        else:
            keys[dotted] = node.doc

    walk(schema(), ())
    return list(keys.items())


def _values(key: str) -> list[str]:
    """The values a key takes from a fixed set: a component's names, an option's choices,
    true/false; [] for the others."""
    from .config import Component, ListOf, Section, schema
    node, parts = schema(), key.split(".")
    for i, part in enumerate(parts):
        if isinstance(node, Section) and part in node.fields:
            node = node.fields[part]
        elif isinstance(node, ListOf) and part.isdigit():
            node = node.item
        elif isinstance(node, Component) and i == len(parts) - 1:
            if part == node.key:
                return node.registry.names()
            opts = [o for n in node.registry.names() for k, o in node.options_of(n).items() if k == part]
            node = opts[0] if opts else None
        else:
            return []
    if isinstance(node, Component):
        return node.registry.names()
    if node is None or isinstance(node, (Section, ListOf)):
        return []
    if node.choices:
        return [str(c) for c in node.choices]
    return ["true", "false"] if node.types() == (bool,) else []


def set_overrides(incomplete: str) -> list[tuple[str, str]]:
    """Candidates for ``--set incomplete``: ``key=`` with the key's description, a list
    index as typed (``model.layers.1.`` gives ``model.layers.1.units=``); after ``key=``, the
    values of a key that takes names (``optimizer.name=adam``, ``dtype=float64``)."""
    if "=" in incomplete:
        key, _, _ = incomplete.partition("=")
        return [(f"{key}={v}", "") for v in _values(key) if f"{key}={v}".startswith(incomplete)]
    typed = incomplete.split(".")
    out = []
    for key, doc in config_keys():
        parts = key.split(".")
        for i, part in enumerate(parts):  # N: the index typed at that place, else 0
            if part == "N":
                parts[i] = typed[i] if i < len(typed) - 1 and re.fullmatch(r"\d+", typed[i]) else "0"
        full = ".".join(parts) + "="
        if full.startswith(incomplete):
            out.append((full, doc))
    return out
