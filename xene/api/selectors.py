"""Label selectors in the Kubernetes grammar, shared by xenectl and the API server's list filter.

    selector     ::= requirement ("," requirement)*          every requirement must hold (AND)
    requirement  ::= ["!"] KEY
                   | KEY ("=" | "==" | "!=") VALUE
                   | KEY ("in" | "notin") "(" VALUE ("," VALUE)* ")"
                   | KEY (">" | "<") INTEGER

As in Kubernetes, `key!=v` and `key notin (...)` also match objects without the label, a value may
be empty (`key=`), and whitespace between tokens is ignored. Keys and values follow the label
rules of metadata.labels, so a selector that could never match a valid label is an error instead
of an empty answer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from xene.api.errors import FieldError, Invalid
from xene.api.labels import label_key_problem, label_value_problem

Operator = Literal["=", "!=", "in", "notin", "exists", "!", ">", "<"]

# Characters that end an identifier; everything else (but whitespace) may be part of one.
_SPECIAL = frozenset("!=(),<>")
_KEYWORDS = {"in": "in", "notin": "notin"}
# Order matters: two-character operators are tried before their one-character prefixes.
_SYMBOLS = ("==", "!=", "=", "!", "(", ")", ",", ">", "<")


@dataclass(frozen=True, slots=True)
class Requirement:
    """One condition on one label key."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True when `labels` satisfy this requirement."""
        present = self.key in labels
        value = labels.get(self.key)
        match self.operator:
            case "exists":
                return present
            case "!":
                return not present
            case "=" | "in":
                return present and value in self.values
            case "!=" | "notin":
                return not present or value not in self.values
            case ">" | "<":
                number = _integer(value)
                if number is None:
                    return False
                bound = int(self.values[0])
                return number > bound if self.operator == ">" else number < bound
        return False  # pragma: no cover - every operator is handled above

    def __str__(self) -> str:
        if self.operator == "exists":
            return self.key
        if self.operator == "!":
            return f"!{self.key}"
        if self.operator in ("in", "notin"):
            return f"{self.key} {self.operator} ({','.join(self.values)})"
        return f"{self.key}{self.operator}{self.values[0]}"


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """Requirements that must all hold; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """True when `labels` satisfy every requirement."""
        labels = labels or {}
        return all(requirement.matches(labels) for requirement in self.requirements)

    def __bool__(self) -> bool:
        return bool(self.requirements)

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)

    @classmethod
    def equal_to(cls, labels: Mapping[str, str]) -> LabelSelector:
        """The selector `k=v,k2=v2` of a plain label map."""
        return cls(tuple(Requirement(key, "=", (value,)) for key, value in labels.items()))


def _integer(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "id", "end", or the symbol / keyword itself
    text: str


def _tokens(text: str) -> Iterator[_Token]:
    position = 0
    while position < len(text):
        char = text[position]
        if char.isspace():
            position += 1
            continue
        symbol = next((s for s in _SYMBOLS if text.startswith(s, position)), None)
        if symbol is not None:
            yield _Token(symbol, symbol)
            position += len(symbol)
            continue
        start = position
        while (
            position < len(text) and not text[position].isspace() and text[position] not in _SPECIAL
        ):
            position += 1
        word = text[start:position]
        yield _Token(_KEYWORDS.get(word, "id"), word)
    yield _Token("end", "")


class _Parser:
    """A recursive-descent parser over the tokens of one selector."""

    def __init__(self, text: str, field: str) -> None:
        self.text = text
        self.field = field
        self.tokens = list(_tokens(text))
        self.position = 0

    def error(self, message: str) -> Invalid:
        return Invalid([FieldError(self.field, f"invalid label selector '{self.text}': {message}")])

    def peek(self) -> _Token:
        return self.tokens[self.position]

    def take(self) -> _Token:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def found(self, token: _Token) -> str:
        return "the end" if token.kind == "end" else f"'{token.text}'"

    def parse(self) -> LabelSelector:
        if self.peek().kind == "end":
            return LabelSelector()
        requirements = [self.requirement()]
        while self.peek().kind == ",":
            self.take()
            requirements.append(self.requirement())
        token = self.peek()
        if token.kind != "end":
            raise self.error(
                f"expected ',' or the end after a requirement, found {self.found(token)}"
            )
        return LabelSelector(tuple(requirements))

    def requirement(self) -> Requirement:
        if self.peek().kind == "!":
            self.take()
            return Requirement(self.key("after '!'"), "!")
        key = self.key("at the start of a requirement")
        token = self.peek()
        if token.kind in (",", "end"):
            return Requirement(key, "exists")
        self.take()
        if token.kind in ("=", "=="):
            return Requirement(key, "=", (self.value(token.text),))
        if token.kind == "!=":
            return Requirement(key, "!=", (self.value(token.text),))
        if token.kind in ("in", "notin"):
            return Requirement(key, token.kind, self.value_set(token.text))  # type: ignore[arg-type]
        if token.kind in (">", "<"):
            return Requirement(key, token.kind, (self.bound(token.text),))  # type: ignore[arg-type]
        raise self.error(
            f"expected one of =, ==, !=, in, notin, >, < or ',' after '{key}', "
            f"found {self.found(token)}"
        )

    def key(self, where: str) -> str:
        token = self.take()
        if token.kind != "id":
            raise self.error(f"expected a label key {where}, found {self.found(token)}")
        problem = label_key_problem(token.text)
        if problem:
            raise self.error(problem)
        return token.text

    def value(self, after: str) -> str:
        token = self.peek()
        if token.kind in (",", "end", ")"):
            return ""  # `key=` selects the empty value, as in Kubernetes
        self.take()
        if token.kind not in ("id", "in", "notin"):
            raise self.error(f"expected a value after '{after}', found {self.found(token)}")
        problem = label_value_problem(token.text)
        if problem:
            raise self.error(problem)
        return token.text

    def value_set(self, operator: str) -> tuple[str, ...]:
        token = self.take()
        if token.kind != "(":
            raise self.error(f"expected '(' after '{operator}', found {self.found(token)}")
        values = [self.value(operator)]
        while self.peek().kind == ",":
            self.take()
            values.append(self.value(operator))
        token = self.take()
        if token.kind != ")":
            raise self.error(
                f"expected ',' or ')' in the values of '{operator}', found {self.found(token)}"
            )
        if values == [""]:
            raise self.error(f"'{operator}' needs at least one value: {operator} (a,b)")
        return tuple(values)

    def bound(self, operator: str) -> str:
        token = self.take()
        if token.kind != "id" or _integer(token.text) is None:
            raise self.error(f"expected an integer after '{operator}', found {self.found(token)}")
        return str(int(token.text))


def parse_selector(text: str | None, field: str = "labelSelector") -> LabelSelector:
    """The selector written as `text`; Invalid naming `field` and what is wrong."""
    if text is None:
        return LabelSelector()
    return _Parser(text, field).parse()
