"""The computation graph of a scalar expression, evaluated forward and differentiated in reverse.

Note 000, example 1: y = exp(xz) + xz/log(x) + sin(log(x))/(xz) at x = 2, z = 3 decomposes
into a = xz, b = log x, c = sin b, d = exp a, e = a/b, f = c/a, y = d + e + f. Reverse mode
starts from gy = dy/dy = 1 and visits the nodes in reverse order; a node's adjoint is the sum
of what each of its consumers sends back (the multivariate chain rule):

    g_u = sum over consumers v of g_v · dv/du

Grammar (a recursive-descent parser; nothing is ever passed to ``eval``)::

    program := (NAME '=' sum ';')* sum        -- optional named steps, as the notes write them
    sum     := term (('+' | '-') term)*       -- one n-ary node: d + e + f
    term    := unary (('*' | '/') unary)*
    unary   := ('-' | '+') unary | power
    power   := atom (('^' | '**') unary)?     -- right-associative; -x^2 = -(x^2)
    atom    := NUMBER | NAME | FUNCTION '(' sum ')' | '(' sum ')'

Nesting is limited to MAX_DEPTH levels (each '(', function call, sign and exponent opens
one), so the recursive descent stays far below Python's recursion limit; evaluation and
differentiation walk the graph in loops, so a legal expression of any depth is safe there.

A subexpression written identically twice is one node (x*z in note 000's example), so its
adjoint shows the sum of contributions. Nodes are named a, b, c, ... by depth, then by where
they are first written; ``a = x*z; ...`` steps keep the names given; the result is y.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ..errors import UsageError
from ..registry import did_you_mean


class ExprError(UsageError):
    """A bad expression: ``expression: column C: problem``."""

    def __init__(self, column: int | None, problem: str):
        where = f"column {column}: " if column else ""
        super().__init__(f"expression: {where}{problem}")
        self.column = column
        self.problem = problem


def _sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


# name: (forward f(v), derivative f'(v) given v and f(v), derivative as a formula of p = input, n = node)
FUNCTIONS = {
    "exp": (math.exp, lambda v, y: y, "exp({p})"),
    "log": (math.log, lambda v, y: 1 / v, "1/{p}"),
    "sin": (math.sin, lambda v, y: math.cos(v), "cos({p})"),
    "cos": (math.cos, lambda v, y: -math.sin(v), "-sin({p})"),
    "tanh": (math.tanh, lambda v, y: 1 - y * y, "1 - {n}^2"),
    "sigmoid": (_sigmoid, lambda v, y: y * (1 - y), "{n}*(1 - {n})"),
    "relu": (lambda v: max(v, 0.0), lambda v, y: 1.0 if v > 0 else 0.0, "[{p} > 0]"),
    "sqrt": (math.sqrt, lambda v, y: 1 / (2 * y), "1/(2*{n})"),
}
BINARY = {"*": "mul", "/": "div", "^": "pow"}
MAX_DEPTH = 100  # nesting levels; the parser uses at most 5 Python frames per level

_TOKEN = re.compile(r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_]\w*)"
                    r"|(?P<op>\*\*|[-+*/^(),;=]))")


@dataclass
class Token:
    kind: str    # 'num', 'name', 'op' or 'end'
    text: str
    column: int  # 1-based
    end: int = 0  # index just after the token in the text

    def __str__(self):
        return "end of expression" if self.kind == "end" else repr(self.text)


def tokenize(text: str) -> list[Token]:
    tokens, pos = [], 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            tokens.append(Token("end", "", pos + 1))
            return tokens
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ExprError(pos + 1, f"unexpected character {text[pos]!r}")
        kind = m.lastgroup
        tok = m.group(kind)
        tokens.append(Token(kind, "^" if tok == "**" else tok, m.start(kind) + 1, m.end()))
        pos = m.end()


@dataclass
class Node:
    id: int
    op: str                       # var, const, add, neg, mul, div, pow, or a FUNCTIONS name
    inputs: tuple[int, ...] = ()
    signs: tuple[int, ...] = ()   # add: +1 or -1 per input
    column: int = 0               # where it is first written
    label: str = ""               # var: its name; const: its text
    source: str = ""              # the text it was first written as
    name: str = ""
    level: int = 0                # longest path from a variable or constant
    varying: bool = False         # depends on a variable
    value: float = math.nan
    adjoint: float | None = None
    contributions: list = field(default_factory=list)  # (consumer name, formula, local, g_consumer)


class Graph:
    """Nodes in creation order (inputs before consumers), shared when written identically."""

    def __init__(self):
        self.nodes: list[Node] = []
        self._keys: dict = {}
        self.variables: dict[str, int] = {}
        self.output: int = -1
        self.order: list[int] = []   # forward order of the nodes the output depends on

    def intern(self, op, inputs=(), signs=(), column=0, label="", source="") -> int:
        key = (op, tuple(inputs), tuple(signs), label if op in ("var", "const") else "")
        if key in self._keys:
            return self._keys[key]
        ins = [self.nodes[i] for i in inputs]
        node = Node(len(self.nodes), op, tuple(inputs), tuple(signs), column, label, source or label,
                    level=1 + max((n.level for n in ins), default=-1),
                    varying=op == "var" or any(n.varying for n in ins))
        self.nodes.append(node)
        self._keys[key] = node.id
        if op == "var":
            self.variables[label] = node.id
        return node.id

    def text(self, node: Node) -> str:
        """The node's definition in terms of its inputs' names: 'a/b', 'sin(b)', 'd + e + f'."""
        names = [self.ref(i) for i in node.inputs]
        if node.op in ("var", "const"):
            return node.label
        if node.op == "add":
            out = ("-" if node.signs[0] < 0 else "") + names[0]
            return out + "".join(f" {'+' if s > 0 else '-'} {n}" for s, n in zip(node.signs[1:], names[1:]))
        if node.op == "neg":
            return f"-{names[0]}"
        if node.op in ("mul", "div", "pow"):
            sym = {"mul": "*", "div": "/", "pow": "^"}[node.op]
            return f"{names[0]}{sym}{names[1]}"
        return f"{node.op}({names[0]})"

    def ref(self, i: int) -> str:
        n = self.nodes[i]
        return n.name or n.label


class Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0
        self.graph = Graph()
        self.bound: dict[str, tuple[int, int]] = {}  # step name -> (node id, column)
        self.used: set[str] = set()
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def take(self) -> Token:
        t = self.tokens[self.pos]
        self.pos += 1
        return t

    def src(self, column: int) -> str:
        """The text from ``column`` to the end of the last token taken."""
        return self.text[column - 1:self.tokens[self.pos - 1].end].strip()

    def enter(self, opener: Token) -> None:
        """One level deeper (a '(', function call, sign or exponent at ``opener``)."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(opener.column, f"nested more than {MAX_DEPTH} levels deep (each '(', "
                            "function call, sign and exponent is a level); write inner parts as "
                            "named steps first: a = ...; b = ...; then the expression of a and b")

    def at(self, *texts) -> bool:
        return self.tok.kind == "op" and self.tok.text in texts

    def parse(self) -> Graph:
        names: dict[int, str] = {}
        while (self.tok.kind == "name" and self.tokens[self.pos + 1].kind == "op"
               and self.tokens[self.pos + 1].text == "="):
            name_tok = self.take()
            self.take()
            name = name_tok.text
            if name in FUNCTIONS:
                raise ExprError(name_tok.column, f"{name!r} is a function; choose another name for this step")
            if name in self.bound:
                raise ExprError(name_tok.column, f"{name!r} is defined twice")
            node = self.sum()
            if not self.at(";"):
                raise ExprError(self.tok.column, f"unexpected {self.tok}; expected ';' after the step {name!r}")
            self.take()
            self.bound[name] = (node, name_tok.column)
            if self.graph.nodes[node].op not in ("var", "const") and node not in names:
                names[node] = name
        out = self.sum()
        if self.tok.kind != "end":
            raise ExprError(self.tok.column, f"unexpected {self.tok}")
        for name, (_, column) in self.bound.items():
            if name not in self.used:
                raise ExprError(column, f"the step {name!r} is defined but never used")
        g = self.graph
        g.output = out
        for i, name in names.items():
            g.nodes[i].name = name
        return g

    def sum(self) -> int:
        column = self.tok.column
        terms, signs = [self.term()], [1]
        while self.at("+", "-"):
            signs.append(1 if self.take().text == "+" else -1)
            terms.append(self.term())
        if len(terms) == 1:
            return terms[0]
        return self.graph.intern("add", terms, signs, column, source=self.src(column))

    def term(self) -> int:
        column = self.tok.column
        left = self.unary()
        while self.at("*", "/"):
            op = BINARY[self.take().text]
            right = self.unary()
            left = self.graph.intern(op, (left, right), column=column, source=self.src(column))
        return left

    def unary(self) -> int:
        if self.at("-", "+"):
            sign = self.take()
            self.enter(sign)
            arg = self.unary()
            self.depth -= 1
            if sign.text == "+":
                return arg
            return self.graph.intern("neg", (arg,), column=sign.column, source=self.src(sign.column))
        return self.power()

    def power(self) -> int:
        column = self.tok.column
        base = self.atom()
        if self.at("^"):
            self.enter(self.take())
            exponent = self.unary()
            self.depth -= 1
            return self.graph.intern("pow", (base, exponent), column=column, source=self.src(column))
        return base

    def atom(self) -> int:
        t = self.take()
        if t.kind == "num":
            return self.graph.intern("const", column=t.column, label=t.text)
        if t.kind == "name":
            if self.at("("):
                if t.text not in FUNCTIONS:
                    raise ExprError(t.column, f"unknown function {t.text!r}{did_you_mean(t.text, FUNCTIONS)} "
                                              f"(expected one of: {', '.join(FUNCTIONS)})")
                open_ = self.take()
                self.enter(t)
                arg = self.sum()
                self.close(open_)
                self.depth -= 1
                return self.graph.intern(t.text, (arg,), column=t.column, source=self.src(t.column))
            if t.text in FUNCTIONS:
                raise ExprError(t.column, f"{t.text!r} is a function: write {t.text}(...)")
            if t.text in self.bound:
                self.used.add(t.text)
                return self.bound[t.text][0]
            return self.graph.intern("var", column=t.column, label=t.text)
        if t.kind == "op" and t.text == "(":
            self.enter(t)
            inner = self.sum()
            self.close(t)
            self.depth -= 1
            return inner
        raise ExprError(t.column, f"unexpected {t}")

    def close(self, open_: Token) -> None:
        if not self.at(")"):
            raise ExprError(self.tok.column, f"expected ')' to close the '(' at column {open_.column}, "
                                             f"found {self.tok}")
        self.take()


def parse(text: str) -> Graph:
    """The graph of ``text`` with every node named (see the module docstring)."""
    if not text.strip():
        raise ExprError(None, "empty expression")
    g = Parser(text).parse()
    _order_and_name(g)
    return g


def _order_and_name(g: Graph) -> None:
    needed, stack = set(), [g.output]
    while stack:
        i = stack.pop()
        if i not in needed:
            needed.add(i)
            stack.extend(g.nodes[i].inputs)
    g.order = sorted(needed, key=lambda i: (g.nodes[i].level, g.nodes[i].column, i))
    out = g.nodes[g.output]
    taken = set(g.variables) | {n.name for n in g.nodes if n.name}
    if out.op not in ("var", "const") and not out.name:
        out.name = "y" if "y" not in taken else "out"
        taken.add(out.name)
    letters = (c for c in "abcdefghijklmnopqrstuvwxyz" if c not in taken and c != "y")
    k = 0
    for i in g.order:
        n = g.nodes[i]
        if n.op not in ("var", "const") and not n.name:
            n.name = next(letters, None)
            while n.name is None or n.name in taken:
                k += 1
                n.name = f"v{k}"
            taken.add(n.name)


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def _forward_value(g: Graph, n: Node) -> float:
    vals = [g.nodes[i].value for i in n.inputs]
    arg = [g.nodes[i].source for i in n.inputs]
    try:
        if n.op == "add":
            return math.fsum(s * v for s, v in zip(n.signs, vals))
        if n.op == "neg":
            return -vals[0]
        if n.op == "mul":
            return vals[0] * vals[1]
        if n.op == "div":
            if vals[1] == 0:
                raise ExprError(n.column, f"division by zero: {n.source} divides by {arg[1]} = 0")
            return vals[0] / vals[1]
        if n.op == "pow":
            a, b = vals
            if a < 0 and b != int(b):
                raise ExprError(n.column, f"{n.source}: a negative base ({arg[0]} = {_fmt(a)}) "
                                          f"needs an integer exponent, got {_fmt(b)}")
            if a == 0 and b < 0:
                raise ExprError(n.column, f"{n.source}: 0 to a negative power")
            return math.pow(a, b)
        v = vals[0]
        if n.op == "log" and v <= 0:
            raise ExprError(n.column, f"log of a {'negative number' if v < 0 else 'zero'}: {n.source} "
                                      f"with {arg[0]} = {_fmt(v)}; log needs a positive argument")
        if n.op == "sqrt" and v < 0:
            raise ExprError(n.column, f"square root of a negative number: {n.source} with "
                                      f"{arg[0]} = {_fmt(v)}")
        return FUNCTIONS[n.op][0](v)
    except OverflowError:
        raise ExprError(n.column, f"{n.source} overflows ({', '.join(f'{a} = {_fmt(v)}' for a, v in zip(arg, vals))})") from None


def local_partials(g: Graph, n: Node) -> list[tuple[str, float]]:
    """d node / d input for each input position: (formula in the inputs' names, value)."""
    if not n.inputs:
        return []
    p = [g.ref(i) for i in n.inputs]
    v = [g.nodes[i].value for i in n.inputs]
    if n.op == "add":
        return [("1" if s > 0 else "-1", float(s)) for s in n.signs]
    if n.op == "neg":
        return [("-1", -1.0)]
    if n.op == "mul":
        return [(p[1], v[1]), (p[0], v[0])]
    if n.op == "div":
        return [(f"1/{p[1]}", 1 / v[1]), (f"-{p[0]}/{p[1]}^2", -n.value / v[1])]  # no v1² to underflow
    if n.op == "pow":
        a, b = v
        if a == 0 and 0 < b < 1 and g.nodes[n.inputs[0]].varying:
            raise ExprError(n.column, f"{n.source} is not differentiable at {n.inputs and g.nodes[n.inputs[0]].source} = 0")
        d_base = b * math.pow(a, b - 1) if b != 0 and a != 0 else (1.0 if b == 1 else 0.0)
        if not g.nodes[n.inputs[1]].varying:
            d_exp = (f"{n.name}*log({p[0]})", 0.0)   # never used: the exponent is a constant
        elif a <= 0:
            raise ExprError(n.column, f"{n.source}: its derivative in the exponent needs a positive "
                                      f"base (log of the base), got {_fmt(a)}")
        else:
            d_exp = (f"{n.name}*log({p[0]})", n.value * math.log(a))
        return [(f"{p[1]}*{p[0]}^({p[1]} - 1)", d_base), d_exp]
    _, deriv, formula = FUNCTIONS[n.op]
    if n.op == "sqrt" and v[0] == 0:
        raise ExprError(n.column, f"{n.source}: sqrt is not differentiable at 0")
    return [(formula.format(p=p[0], n=n.name), deriv(v[0], n.value))]


@dataclass
class Result:
    expression: str
    graph: Graph
    at: dict[str, float]

    @property
    def value(self) -> float:
        return self.graph.nodes[self.graph.output].value

    @property
    def gradient(self) -> dict[str, float]:
        g = self.graph
        return {name: g.nodes[g.variables[name]].adjoint for name in self.at}

    @property
    def output_name(self) -> str:
        return self.graph.ref(self.graph.output)

    def forward_nodes(self) -> list[Node]:
        return [self.graph.nodes[i] for i in self.graph.order if self.graph.nodes[i].op != "const"]

    def backward_nodes(self) -> list[Node]:
        """The order reverse mode computes the adjoints in."""
        return [n for n in reversed(self.forward_nodes()) if n.adjoint is not None]

    def to_json(self) -> dict:
        g = self.graph
        return {
            "expression": self.expression, "at": self.at, "output": self.output_name,
            "value": self.value, "gradient": self.gradient,
            "nodes": [{"name": g.ref(n.id), "op": n.op, "definition": g.text(n),
                       "inputs": [g.ref(i) for i in n.inputs], "value": n.value,
                       "adjoint": n.adjoint} for n in self.forward_nodes()],
            "backward": [{"adjoint": f"g{g.ref(n.id)}", "value": n.adjoint,
                          "terms": [{"from": c, "local": f, "local_value": lv, "consumer_adjoint": gc}
                                    for c, f, lv, gc in n.contributions]}
                         for n in self.backward_nodes()],
        }

    def to_dot(self) -> str:
        g = self.graph
        lines = ["digraph backprop {", "  rankdir=BT;", '  node [shape=box, fontname="monospace"];']
        for n in self.forward_nodes():
            name = g.ref(n.id)
            head = name if n.op == "var" else f"{name} = {g.text(n)}"
            adj = "" if n.adjoint is None else f"\\ng{name} = {_fmt(n.adjoint)}"
            shape = ', shape=ellipse' if n.op == "var" else ""
            lines.append(f'  "{name}" [label="{head}\\n= {_fmt(n.value)}{adj}"{shape}];')
        for n in self.forward_nodes():
            for pos, (i, (formula, local)) in enumerate(zip(n.inputs, local_partials(g, n))):
                src = g.ref(i)
                if g.nodes[i].op == "const":
                    lines.append(f'  "{src}#{n.id}.{pos}" [label="{src}", shape=plaintext];')
                    src = f"{src}#{n.id}.{pos}"
                    lines.append(f'  "{src}" -> "{g.ref(n.id)}";')
                else:
                    lines.append(f'  "{src}" -> "{g.ref(n.id)}" [label="{formula} = {_fmt(local)}"];')
        lines.append("}")
        return "\n".join(lines) + "\n"


def parse_assignment(text: str) -> tuple[str, float]:
    """``--at x=2`` -> ('x', 2.0)."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not re.fullmatch(r"[A-Za-z_]\w*", name):
        raise UsageError(f"--at {text}: expected NAME=NUMBER, e.g. --at x=2")
    try:
        v = float(value)
    except ValueError:
        raise UsageError(f"--at {text}: {value.strip()!r} is not a number") from None
    if not math.isfinite(v):
        raise UsageError(f"--at {text}: the value must be finite")
    return name, v


def explain(expression: str, at: dict[str, float]) -> Result:
    """Parse, evaluate forward, and accumulate every adjoint in reverse mode."""
    g = parse(expression)
    used = {name: i for name, i in g.variables.items() if i in g.order}
    for name, i in used.items():
        if name not in at:
            raise ExprError(g.nodes[i].column, f"no value for the variable {name!r}; "
                                               f"give one with --at {name}=NUMBER")
    for name in at:
        if name not in used:
            known = ", ".join(used) or "none"
            raise UsageError(f"--at {name}: the expression has no variable {name!r} "
                             f"(its variables: {known}){did_you_mean(name, used)}")
    for i in g.order:
        n = g.nodes[i]
        if n.op == "var":
            n.value = float(at[n.label])
        elif n.op == "const":
            n.value = float(n.label)
        else:
            n.value = _forward_value(g, n)
        if not math.isfinite(n.value):
            raise ExprError(n.column, f"{n.source} is not finite ({n.value})")
    _backward(g)
    ordered = {name: at[name] for name in used}
    return Result(expression, g, ordered)


def _backward(g: Graph) -> None:
    """Reverse mode: gy = 1, then each node's adjoint is the sum of its consumers' shares."""
    consumers: dict[int, list[tuple[Node, int, str, float]]] = {i: [] for i in g.order}
    out = g.nodes[g.output]
    out.adjoint = 1.0
    for i in reversed(g.order):
        n = g.nodes[i]
        if not n.varying or n.op == "const":
            continue
        if i != g.output:
            n.contributions = [(g.ref(c.id), formula, local, c.adjoint)
                               for c, _, formula, local in reversed(consumers[i])]
            n.adjoint = math.fsum(gc * local for _, _, local, gc in n.contributions)
        if not math.isfinite(n.adjoint):
            raise ExprError(n.column, f"the adjoint g{g.ref(i)} is not finite")
        try:
            partials = local_partials(g, n)
        except OverflowError:
            partials = [("", math.inf)] * len(n.inputs)
        for pos, (j, (formula, local)) in enumerate(zip(n.inputs, partials)):
            if g.nodes[j].varying:
                if not math.isfinite(local):
                    at = ", ".join(f"{g.nodes[i].source} = {_fmt(g.nodes[i].value)}" for i in n.inputs
                                   if g.nodes[i].varying)
                    raise ExprError(n.column, f"the derivative of {n.source} overflows ({at})")
                consumers[j].append((n, pos, formula, local))
