"""The ``--where`` mini-language: user text -> a small AST of allowed fields, operators and values.

Grammar (keywords case-insensitive)::

    expr       := and_expr ("OR" and_expr)*
    and_expr   := not_expr ("AND" not_expr)*
    not_expr   := "NOT" not_expr | "(" expr ")" | comparison
    comparison := FIELD op value | FIELD ["NOT"] "LIKE" string | FIELD ["NOT"] "IN" "(" values ")"
                | FIELD "IS" ["NOT"] "NULL" | FIELD "BETWEEN" value "AND" value
    op         := "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    value      := number | 'text' ('' inside quotes is one quote) | TRUE | FALSE

In LIKE patterns ``%`` and ``_`` are wildcards and ``\\%``, ``\\_``, ``\\\\`` are literal.
Nothing from the text ever reaches SQL: adapters turn the AST into bound expressions.
"""

from __future__ import annotations

import re
from typing import Any

from eoharvest.domain.catalog_fields import FIELDS, Comparison, Expr, Logical, Not, field_spec
from eoharvest.domain.errors import InputError

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
      | (?P<string>'(?:[^']|'')*')
      | (?P<op><=|>=|!=|<>|=|<|>)
      | (?P<paren>[(),])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"AND", "OR", "NOT", "LIKE", "IN", "IS", "NULL", "BETWEEN", "TRUE", "FALSE"}
MAX_WHERE_LENGTH = 2000


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            bad = text[pos:].lstrip()[:1]
            raise InputError(
                f"--where: unexpected character {bad!r} at position {len(text) - len(text[pos:].lstrip())}",
                hint="use comparisons of catalog fields joined by AND/OR, e.g. \"cloud < 20 AND platform = 'Sentinel-2'\"",
            )
        kind = match.lastgroup or ""
        value, start = match.group(kind), match.start(kind)
        if kind == "word" and value.upper() in _KEYWORDS:
            kind, value = "kw", value.upper()
        tokens.append((kind, value, start))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def fail(self, expected: str) -> InputError:
        token = self.peek()
        found = f"{token[1]!r} at position {token[2]}" if token else "the end of the filter"
        return InputError(
            f"--where: expected {expected}, found {found} in {self.text!r}",
            hint=f"fields: {', '.join(sorted(FIELDS))}",
        )

    def accept(self, kind: str, value: str | None = None) -> str | None:
        token = self.peek()
        if token and token[0] == kind and (value is None or token[1] == value):
            self.i += 1
            return token[1]
        return None

    def expect(self, kind: str, value: str | None = None, what: str = "") -> str:
        got = self.accept(kind, value)
        if got is None:
            raise self.fail(what or value or kind)
        return got

    def parse(self) -> Expr:
        if not self.tokens:
            raise InputError("--where is empty", hint="e.g. \"cloud < 20\"")
        expr = self.or_expr()
        if self.peek() is not None:
            raise self.fail("AND, OR or the end of the filter")
        return expr

    def or_expr(self) -> Expr:
        items = [self.and_expr()]
        while self.accept("kw", "OR"):
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Logical("or", tuple(items))

    def and_expr(self) -> Expr:
        items = [self.not_expr()]
        while self.accept("kw", "AND"):
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else Logical("and", tuple(items))

    def not_expr(self) -> Expr:
        if self.accept("kw", "NOT"):
            return Not(self.not_expr())
        if self.accept("paren", "("):
            inner = self.or_expr()
            self.expect("paren", ")", "')'")
            return inner
        return self.comparison()

    def comparison(self) -> Expr:
        name = self.accept("word")
        if name is None:
            raise self.fail("a field name")
        spec = field_spec(name)
        if self.accept("kw", "IS"):
            negate = bool(self.accept("kw", "NOT"))
            self.expect("kw", "NULL", "NULL")
            return Comparison(spec.name, "notnull" if negate else "isnull", None)
        negate = bool(self.accept("kw", "NOT"))
        if self.accept("kw", "LIKE"):
            return Comparison(spec.name, "notlike" if negate else "like", spec.convert("like", self.literal()))
        if self.accept("kw", "IN"):
            self.expect("paren", "(", "'('")
            values = [self.literal()]
            while self.accept("paren", ","):
                values.append(self.literal())
            self.expect("paren", ")", "')'")
            converted = tuple(spec.convert("in", v) for v in values)
            return Comparison(spec.name, "notin" if negate else "in", converted)
        if negate:
            raise self.fail("LIKE or IN after NOT")
        if self.accept("kw", "BETWEEN"):
            low = spec.convert(">=", self.literal())
            self.expect("kw", "AND", "AND")
            high = spec.convert("<=", self.literal())
            return Logical("and", (Comparison(spec.name, ">=", low), Comparison(spec.name, "<=", high)))
        op = self.accept("op")
        if op is None:
            raise self.fail("a comparison operator (= != < <= > >= LIKE IN IS BETWEEN)")
        op = "!=" if op == "<>" else op
        return Comparison(spec.name, op, spec.convert(op, self.literal()))

    def literal(self) -> Any:
        token = self.peek()
        if token is None:
            raise self.fail("a value")
        kind, value, _ = token
        if kind == "number":
            self.i += 1
            return float(value) if any(c in value for c in ".eE") else int(value)
        if kind == "string":
            self.i += 1
            return value[1:-1].replace("''", "'")
        if kind == "kw" and value in ("TRUE", "FALSE"):
            self.i += 1
            return value == "TRUE"
        raise self.fail("a number, a 'quoted text' or TRUE/FALSE")


def parse_where(text: str) -> Expr:
    """Parse a ``--where`` filter into an AST, or raise InputError naming what is wrong."""
    if not isinstance(text, str):
        raise InputError(f"--where must be text, got {type(text).__name__}")
    if len(text) > MAX_WHERE_LENGTH:
        raise InputError(f"--where is {len(text)} characters long; the limit is {MAX_WHERE_LENGTH}")
    return _Parser(text).parse()
