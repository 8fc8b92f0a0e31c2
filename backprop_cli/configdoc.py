"""Views of the one config schema: docs/CONFIG.md, a JSON Schema for editors, and the resolved
config annotated with where each value came from (``backprop config docs|schema|show``).

Everything here is derived from :func:`backprop_cli.config.schema`; nothing is declared twice.
"""
from __future__ import annotations

import json
import math
from typing import Any


from . import yamlio
from .config import REQUIRED, Component, Config, ListOf, Option, Section, schema

JSON_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string", list: "array",
              dict: "object"}
SHORT_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string", list: "list",
               dict: "mapping"}


# --------------------------------------------------------------------------------------------
# small helpers
def flow(value) -> str:
    """A value as one line of YAML: 0.5, 'full', [a, b], {name: sgd, lr: 0.5}, null."""
    text = yamlio.dump(value, default_flow_style=True, width=math.inf, sort_keys=False).strip()
    return text[:-4].strip() if text.endswith("\n...") else text


def summary_of(cls) -> str:
    """A registered class's one-line description: its ``doc``, else its docstring's first line."""
    if cls is None:
        return "chosen from the layer's activation"
    doc = getattr(cls, "doc", "") or (cls.__doc__ or "").strip()
    return doc.splitlines()[0].strip() if doc else ""


def aliases(registry) -> dict[str, list[str]]:
    """name -> the other names of the same class (first name listed wins)."""
    firsts: dict[Any, str] = {}
    out: dict[str, list[str]] = {}
    for name, cls in registry.items():
        key = id(cls) if cls is not None else name
        if key in firsts:
            out[firsts[key]].append(name)
        else:
            firsts[key] = name
            out[name] = []
    return out


#: keys a section's example leaves out: a value there would show another use than the usual
#: (ensemble.member trains one member alone; the members' own config.yaml files set it)
NOT_IN_EXAMPLES = {("ensemble", "member")}


def example_of(node) -> Any:
    """A value to show in the docs: the declared example, else the default, else a plausible one."""
    if getattr(node, "example", None) is not None:
        return node.example
    default = getattr(node, "default", REQUIRED)
    if default is not REQUIRED and default is not None:
        return default
    if isinstance(node, Component):
        return node.registry.names()[0]
    if isinstance(node, Option):
        if node.choices:
            return node.choices[0]
        t = node.types()[0]
        lo = next((b for b in (node.ge, node.gt) if b is not None), None)
        if t is int:
            return int(lo) + 1 if lo is not None else 1
        if t is float:
            return 0.1 if lo is None or lo < 0.1 else lo * 2
        return {bool: True, str: "value", list: [], dict: {}}[t]
    return None


def type_text(opt: Option) -> str:
    if opt.mixed():
        return " or ".join([SHORT_TYPES[t] for t in opt.types() if t is not str]
                           + [repr(c) for c in opt.choices])
    text = " or ".join(SHORT_TYPES[t] for t in opt.types())
    if opt.type is list and opt.items is not None:
        text += f" of {' or '.join(SHORT_TYPES[t] for t in opt.items.types())}"
    return text + (" or null" if opt.nullable else "")


def allowed_text(opt: Option) -> str:
    parts = []
    if opt.choices and not opt.mixed():
        parts.append(", ".join(f"`{c}`" for c in opt.choices))
    if opt.range_text():
        parts.append(opt.range_text())
    if opt.file:
        parts.append("an existing file")
    return "; ".join(parts) or "any"


def default_text(node) -> str:
    d = getattr(node, "default", REQUIRED)
    if isinstance(node, Section):
        return "(section)"
    return "**required**" if d is REQUIRED else f"`{flow(d)}`"


# --------------------------------------------------------------------------------------------
# docs/CONFIG.md
INTRO = """\
# Configuration reference

<!-- Generated from the schema in backprop_cli/config.py by `backprop config docs > docs/CONFIG.md`.
     Do not edit by hand: a test fails when this file and the schema differ. -->

A config is one YAML mapping of the sections below. Every key has a type, a default (or is
**required**), the values it allows and an example; anything else is an error, reported with
its file, line and column before any data is read or any run folder is made:

```
Error: configs/x.yaml:12:5: optimizer.lr: must be > 0, got -0.1
```

- **Components** (activations, initializers, losses, optimizers, data sources) are written as a
  name (`activation: tanh`) or a mapping of the name and its options
  (`activation: {name: leaky_relu, slope: 0.2}`); each name's options are listed below.
- **`extends: base.yaml`** (top level, relative to the file) starts from another config:
  mappings merge key by key, lists and other values replace the parent's, chains are allowed
  and cycles are an error. File paths are relative to the file that names them: a parent's
  data files are found from a child in any folder.
- **`--set key.path=value`** (repeatable, on `train`, `gradcheck` and `config show`) overrides
  a value, parsed as YAML: `--set optimizer.lr=0.1`, `--set model.layers.0.units=8`,
  `--set optimizer='{name: sgd, lr: 0.05}'`. Overrides are validated like the file, and the
  run folder's `config.yaml` lists them.
- **`backprop config show CONFIG`** prints the resolved config with the origin of every value
  (file, `extends` parent, `--set` or default); **`backprop config validate CONFIG...`**
  checks many files (exit 2 if any is invalid); **`backprop config schema`** prints a JSON
  Schema of this reference.

## Editor completion and checking

Save the JSON Schema and point the YAML language server (VS Code's YAML extension, Neovim,
Helix, ...) at it:

```bash
backprop config schema > backprop.schema.json
```

Either put a modeline as the first line of a config:

```yaml
# yaml-language-server: $schema=../backprop.schema.json
```

or map config files to it in VS Code's `settings.json`:

```json
"yaml.schemas": {"./backprop.schema.json": ["configs/**/*.yaml"]}
```

The editor then completes keys and component names and flags unknown keys, wrong types and
out-of-range values as you type; `backprop config validate` also checks what a JSON Schema
cannot (combinations, files that must exist).
"""


def markdown() -> str:
    """docs/CONFIG.md: every section, key, default and example, from the schema."""
    out = [INTRO, "## Top level\n"]
    root = schema()
    out += _table(root, ())
    for key, node in root.fields.items():
        if not isinstance(node, Option):
            out += _node_doc(node, (key,), 2)
    return "\n".join(out).rstrip() + "\n"


def _table(section: Section, path: tuple) -> list[str]:
    rows = ["| key | type | default | allowed | description | example |",
            "| --- | --- | --- | --- | --- | --- |"]
    for key, node in section.fields.items():
        rows.append(_row(key, node, path))
    return rows + [""]


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _row(key: str, node, path: tuple) -> str:
    full = ".".join(map(str, path + (key,)))
    link = f"[`{key}`](#{_anchor(full)})"
    if isinstance(node, Option):
        cells = (f"`{key}`", type_text(node), default_text(node), allowed_text(node), node.doc,
                 f"`{flow(example_of(node))}`")
    elif isinstance(node, Section):
        cells = (link, "mapping", "(section)", "see below", node.doc, "see below")
    elif isinstance(node, ListOf):
        cells = (link, "list of mappings", default_text(node),
                 f"at least {node.min_items} item(s)" if node.min_items else "any", node.doc,
                 "see below")
    else:
        cells = (link, f"{node.registry.kind} name or mapping", default_text(node),
                 "see below", node.doc, f"`{flow(example_of(node))}`")
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _anchor(full: str) -> str:
    return full.replace(".", "").replace("_", "_").lower()


def _node_doc(node, path: tuple, level: int) -> list[str]:
    full = ".".join(map(str, path))
    h = "#" * min(level, 6)
    if isinstance(node, Section):
        out = [f"{h} {full}\n", f"{node.doc[:1].upper() + node.doc[1:]}.\n" if node.doc else ""]
        out += _table(node, path)
        out += _yaml_example(path, {k: example_of(n) if not isinstance(n, (Section, ListOf)) else
                                    _example_value(n) for k, n in node.fields.items()
                                    if (*path, k) not in NOT_IN_EXAMPLES})
        for key, sub in node.fields.items():
            if not isinstance(sub, Option):
                out += _node_doc(sub, path + (key,), level + 1)
            elif sub.fields is not None:
                out += _mapping_form_doc(sub, path + (key,), level + 1)
        return out
    if isinstance(node, ListOf):
        out = [f"{h} {full}\n", f"{node.doc[:1].upper() + node.doc[1:]}; each item:\n"]
        out += _table(node.item, path + ("N",)) if isinstance(node.item, Section) else []
        out += _yaml_example(path, _example_value(node))
        if isinstance(node.item, Section):
            for key, sub in node.item.fields.items():
                if not isinstance(sub, Option):
                    out += _node_doc(sub, path + ("N", key), level + 1)
        if isinstance(node.item, Component):
            out += _component_doc(node.item, path + ("N",), level + 1)
        return out
    return _component_doc(node, path, level)


def _mapping_form_doc(opt: Option, path: tuple, level: int) -> list[str]:
    """An option that also takes a mapping (model.init_from): the mapping's keys."""
    full = ".".join(map(str, path))
    out = [f"{'#' * min(level, 6)} {full}\n", f"{opt.doc[:1].upper() + opt.doc[1:]}. As a mapping:\n"]
    out += _options_table(opt.fields)
    return out + _yaml_example(path, {k: example_of(o) for k, o in opt.fields.items()})


def _example_value(node):
    if isinstance(node, ListOf):
        return node.example if node.example is not None else [_example_value(node.item)]
    if isinstance(node, Section):
        return {k: _example_value(n) for k, n in node.fields.items()
                if not isinstance(n, Option) or n.required or n.example is not None}
    return example_of(node)


def _yaml_example(path: tuple, value) -> list[str]:
    doc: Any = value
    for part in reversed([p for p in path if p != "N"]):
        doc = {part: doc}
    text = yamlio.dump(doc, sort_keys=False, default_flow_style=None, width=100)
    return ["Example:\n", "```yaml", text.rstrip(), "```", ""]


def _component_doc(node: Component, path: tuple, level: int) -> list[str]:
    full = ".".join(map(str, path))
    h = "#" * min(level, 6)
    names = aliases(node.registry)
    out = [f"{h} {full}\n",
           f"{node.doc[:1].upper() + node.doc[1:]}: a {node.registry.kind} name, or a mapping with "
           f"`{node.key}` and that name's options. Default: {default_text(node)}.\n"]
    if node.common:
        out += [f"Options of every {node.registry.kind}:\n", *_options_table(node.common)]
    out += ["| name | description | options |", "| --- | --- | --- |"]
    for name, others in names.items():
        cls = node.registry.get(name)
        opts = node.options_of(name)
        own = {k: o for k, o in opts.items() if k not in node.common}
        also = f" (also `{'`, `'.join(others)}`)" if others else ""
        out.append(f"| `{name}`{also} | {_cell(summary_of(cls))} | "
                   f"{', '.join(f'`{k}`' for k in own) or '-'} |")
    out.append("")
    for name in names:
        own = {k: o for k, o in node.options_of(name).items() if k not in node.common}
        if own:
            out += [f"Options of `{name}`:\n", *_options_table(own)]
    ex = node.example if node.example is not None else example_of(node)
    out += _yaml_example(path, ex)
    seen = set()  # sub-components (a layer's activation, init), each documented once
    for name in names:
        for key, sub in node.options_of(name).items():
            if isinstance(sub, Component) and key not in seen:
                seen.add(key)
                out += _component_doc(sub, path + (key,), level + 1)
    return out


def _options_table(options: dict[str, Option]) -> list[str]:
    return _table(Section(options), ())


# --------------------------------------------------------------------------------------------
# JSON Schema
def json_schema() -> dict:
    """A JSON Schema (draft-07) of configs, for editors and the YAML language server.

    A config with ``extends`` may leave anything to its parent, so it is checked against
    the schema without ``required`` keys (a component's mapping without its name may then be
    any component's options); a config without it against the whole schema."""
    extends = {"type": "string", "description": "a config this one starts from (relative to "
               "this file); mappings merge, other values replace"}
    partial = _js(schema(), partial=True)
    partial["properties"] = {"extends": extends, **partial["properties"]}
    return {"$schema": "http://json-schema.org/draft-07/schema#",
            "$id": "https://backprop.invalid/config.schema.json",
            "title": "backprop config", "type": "object", "properties": {"extends": extends},
            "if": {"required": ["extends"]}, "then": partial, "else": _js(schema())}


def _js(node, partial: bool = False) -> dict:
    if isinstance(node, Option):
        return _js_option(node, partial)
    if isinstance(node, Section):
        out: dict = {"type": "object", "properties": {k: _js(n, partial) for k, n in node.fields.items()},
                     "additionalProperties": False}
        if node.doc:
            out["description"] = node.doc
        required = [k for k, n in node.fields.items() if _required(n)]
        if required and not partial:
            out["required"] = required
        if node.optional:
            out["type"] = ["object", "null"]
        return out
    if isinstance(node, ListOf):
        out = {"type": "array", "items": _js(node.item, partial), "description": node.doc}
        if node.min_items:
            out["minItems"] = node.min_items
        return out
    return _js_component(node, partial)


def _required(node) -> bool:
    if isinstance(node, Section):
        return not node.optional and any(_required(n) for n in node.fields.values())
    return getattr(node, "default", None) is REQUIRED


def _js_option(opt: Option, partial: bool = False) -> dict:
    out: dict = {}
    if opt.fields is not None:  # a string (or null), or the mapping of its fields
        mapping = {"type": "object", "additionalProperties": False,
                   "properties": {k: _js_option(o) for k, o in opt.fields.items()}}
        required = [k for k, o in opt.fields.items() if o.required]
        if required and not partial:
            mapping["required"] = required
        others = [JSON_TYPES[t] for t in opt.types() if t is not dict] + (["null"] if opt.nullable else [])
        out["anyOf"] = [{"type": others[0] if len(others) == 1 else others}, mapping]
    elif opt.mixed():
        num = {"type": [JSON_TYPES[t] for t in opt.types() if t is not str]}
        num.update(_bounds(opt))
        out["anyOf"] = [num, {"enum": list(opt.choices)}]
    else:
        types = [JSON_TYPES[t] for t in opt.types()]
        if opt.nullable:
            types.append("null")
        out["type"] = types[0] if len(types) == 1 else types
        if opt.choices:
            out["enum"] = list(opt.choices) + ([None] if opt.nullable else [])
        out.update(_bounds(opt))
        if opt.type is list and opt.items is not None:
            out["items"] = _js_option(opt.items)
    if opt.doc:
        out["description"] = opt.doc
    if not opt.required:
        out["default"] = _jsonable(opt.default)
    if opt.example is not None:
        out["examples"] = [_jsonable(opt.example)]
    return out


def _bounds(opt: Option) -> dict:
    keys = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}
    return {js: getattr(opt, k) for k, js in keys.items() if getattr(opt, k) is not None}


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def _js_component(node: Component, partial: bool = False) -> dict:
    names = node.registry.names()
    branches: list[dict] = []
    if node.shorthand:
        branches.append({"type": "string", "enum": names})
    for name in names:
        props = {node.key: {"const": name, "description": summary_of(node.registry.get(name))}}
        props.update({k: _js(o, partial) for k, o in node.options_of(name).items()})
        branch = {"type": "object", "properties": props, "additionalProperties": False}
        if name != node.default and not partial:  # the default name may be left out: {lr: 0.1} is sgd's
            branch["required"] = [node.key]
        branches.append(branch)
    # partial: {lr: 0.1} under a parent's {name: adam} fits several branches
    out = {"description": f"{node.doc} ({node.registry.kind}: {', '.join(names)})",
           "anyOf" if partial else "oneOf": branches}
    if node.default is not REQUIRED:
        out["default"] = _jsonable(node.default)
    return out


# --------------------------------------------------------------------------------------------
# config show
def annotated(cfg: Config) -> list[tuple[str, str]]:
    """The resolved config as YAML lines, each leaf with the origin of its value ('file',
    'extends <parent>', '--set ...' or 'default'); lines without a value have origin ''."""
    lines: list[tuple[str, str]] = []

    def emit(value, path: tuple, indent: str, first_prefix: str | None = None):
        # first_prefix: the '- ' of a list item replaces the indent of its first line
        items = list(value.items())
        for i, (k, v) in enumerate(items):
            lead = first_prefix if (first_prefix is not None and i == 0) else indent
            p = path + (k,)
            if isinstance(v, dict) and v:
                lines.append((f"{lead}{k}:", ""))
                emit(v, p, indent + "  ")
            elif isinstance(v, list) and v and all(isinstance(x, dict) and x for x in v):
                lines.append((f"{lead}{k}:", ""))
                for j, item in enumerate(v):
                    emit(item, p + (j,), indent + "    ", indent + "  - ")
            else:
                lines.append((f"{lead}{k}: {flow(v)}", cfg.origin(p)))

    emit(cfg.data, (), "")
    return lines


def show_text(cfg: Config) -> str:
    """``backprop config show``: the resolved config, origins as aligned comments."""
    lines = annotated(cfg)
    width = min(max(len(text) for text, _ in lines), 60) + 2
    head = f"# {cfg.files[0] if cfg.files else cfg.path}, resolved"
    if len(cfg.files) > 1:
        head += " (extends " + " -> ".join(cfg.files[1:]) + ")"
    if cfg.overrides:
        head += "; overrides: " + " ".join(f"--set {o}" for o in cfg.overrides)
    body = [text.ljust(width) + f"# {origin}" if origin else text for text, origin in lines]
    table = [f"# {line}" for line in layer_table(cfg)]
    return "\n".join([head, *body, "", "# the network, layer by layer:", *table]) + "\n"


def layer_rows(cfg: Config) -> list[dict]:
    """Each layer's output shape and parameter count for the input shape the data section
    declares (sizes the data alone can tell are None)."""
    from .config import declared_input_shape
    from .engine.blocks import summary
    return summary(cfg.data["model"]["layers"], declared_input_shape(cfg.data))


def layer_table(cfg: Config) -> list[str]:
    from .engine.blocks import summary_lines
    return summary_lines(layer_rows(cfg))


def show_json(cfg: Config) -> dict:
    """The resolved config and, for each leaf, where its value came from."""
    layers = [{**r, "output_shape": list(r["output_shape"])} for r in layer_rows(cfg)]
    return {"config": cfg.data, "files": cfg.files, "overrides": cfg.overrides,
            "origins": {key: cfg.origin(path) for key, path in _leaf_paths(cfg.data)},
            "layers": layers}


def _leaf_paths(value, path: tuple = ()):
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from _leaf_paths(v, path + (k,))
    elif isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
        for i, v in enumerate(value):
            yield from _leaf_paths(v, path + (i,))
    else:
        yield ".".join(map(str, path)), path
