"""kubectl's JSONPath templates: `-o jsonpath=…`, and the paths of `custom-columns` and `--sort-by`.

A template is text with actions in braces, as kubectl takes them:

    {.items[*].metadata.name}                   every name, separated by spaces
    {range .items[*]}{.metadata.name}{"\\n"}{end}  one name per line
    {.items[?(@.status.phase=="Failed")].metadata.name}
    {.metadata.labels.xene\\.dev/workflow}       a key with dots, escaped

Paths: `$` (the root) or `@` (the current item) may start them; `.field`, `['field']`, `..field`
(at any depth), `[n]` (negative from the end), `[start:end:step]`, `[*]` / `.*`, unions `[0,2]` /
`['a','b']`, filters `[?(@.path OP value)]` with ==, !=, <, <=, >, >= or existence `[?(@.path)]`.
Missing fields yield nothing, as with kubectl's default `--allow-missing-template-keys`.
Pure Python on plain JSON data; no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class JsonPathError(ValueError):
    """A template or path that cannot be parsed; the message says where and why."""


# ---- the parsed form ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """`.name` or `['name']`; `name` None stands for `*` (every value)."""

    name: str | None


@dataclass(frozen=True)
class Recursive:
    """`..name`: `name` at any depth below (None: `..*`, every value at any depth)."""

    name: str | None


@dataclass(frozen=True)
class Index:
    """`[n]`, counting from the end when negative."""

    index: int


@dataclass(frozen=True)
class Slice:
    """`[start:end:step]` on a list."""

    start: int | None
    end: int | None
    step: int | None


@dataclass(frozen=True)
class Union:
    """`[a,b]`: several indexes or keys."""

    members: tuple[Index | Field, ...]


@dataclass(frozen=True)
class Literal:
    """A string, number, boolean or null in a filter."""

    value: Any


@dataclass(frozen=True)
class Filter:
    """`[?(@.path OP right)]`, or `[?(@.path)]` (exists) when `operator` is None."""

    left: Path
    operator: str | None
    right: Path | Literal | None


Segment = Field | Recursive | Index | Slice | Union | Filter


@dataclass(frozen=True)
class Path:
    """A path from the root (`$`) or from the current item."""

    from_root: bool
    segments: tuple[Segment, ...]

    def evaluate(self, root: Any, current: Any) -> list[Any]:
        """Every value the path leads to, in document order."""
        values = [root if self.from_root else current]
        for segment in self.segments:
            values = [found for value in values for found in _step(segment, value, root)]
        return values


@dataclass(frozen=True)
class Text:
    """Literal text between actions (or a quoted string action)."""

    text: str


@dataclass(frozen=True)
class Action:
    """`{path}`: its values, joined by spaces."""

    path: Path


@dataclass(frozen=True)
class Range:
    """`{range path}…{end}`: the body once per value, with that value as `@`."""

    path: Path
    body: tuple[Node, ...]


Node = Text | Action | Range


@dataclass(frozen=True)
class Template:
    """A parsed template."""

    source: str
    nodes: tuple[Node, ...]

    def render(self, data: Any) -> str:
        """The template's text for `data`."""
        return "".join(_render(self.nodes, data, data))


# ---- evaluation --------------------------------------------------------------------------------


def _children(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return list(value.values())
    if isinstance(value, list):
        return list(value)
    return []


def _descendants(value: Any) -> Iterator[Any]:
    """`value` and everything below it, depth first in document order."""
    yield value
    for child in _children(value):
        yield from _descendants(child)


def _step(segment: Segment, value: Any, root: Any) -> list[Any]:
    if isinstance(segment, Field):
        if segment.name is None:
            return _children(value)
        if isinstance(value, Mapping) and segment.name in value:
            return [value[segment.name]]
        return []
    if isinstance(segment, Recursive):
        found: list[Any] = []
        for node in _descendants(value):
            if segment.name is None:
                if node is not value:
                    found.append(node)
            elif isinstance(node, Mapping) and segment.name in node:
                found.append(node[segment.name])
        return found
    if isinstance(segment, Index):
        if isinstance(value, list) and -len(value) <= segment.index < len(value):
            return [value[segment.index]]
        return []
    if isinstance(segment, Slice):
        if not isinstance(value, list):
            return []
        if segment.step == 0:
            raise JsonPathError("a slice step must not be 0")
        return value[segment.start : segment.end : segment.step]
    if isinstance(segment, Union):
        return [found for member in segment.members for found in _step(member, value, root)]
    return [item for item in _children(value) if _keep(segment, item, root)]


def _keep(condition: Filter, item: Any, root: Any) -> bool:
    left = condition.left.evaluate(root, item)
    if condition.operator is None:
        return bool(left) and left[0] not in (None, False, "", [], {})
    if isinstance(condition.right, Literal):
        right = [condition.right.value]
    else:
        assert condition.right is not None
        right = condition.right.evaluate(root, item)
    if not left or not right:
        return condition.operator == "!=" and bool(left) != bool(right)
    return _compare(left[0], condition.operator, right[0])


def _compare(left: Any, operator: str, right: Any) -> bool:
    if operator == "==":
        return bool(left == right)
    if operator == "!=":
        return bool(left != right)
    numbers = (int, float)
    if isinstance(left, numbers) and isinstance(right, numbers):
        pair: tuple[Any, Any] = (left, right)
    elif isinstance(left, str) and isinstance(right, str):
        pair = (left, right)
    else:
        return False
    a, b = pair
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[operator]


def format_value(value: Any) -> str:
    """How a value is printed: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _render(nodes: Sequence[Node], root: Any, current: Any) -> Iterator[str]:
    for node in nodes:
        if isinstance(node, Text):
            yield node.text
        elif isinstance(node, Action):
            yield " ".join(format_value(value) for value in node.path.evaluate(root, current))
        else:
            for item in node.path.evaluate(root, current):
                yield from _render(node.body, root, item)


# ---- parsing -----------------------------------------------------------------------------------

_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?$")
_INDEX_OR_SLICE = re.compile(r"(-?\d*)(:(-?\d*))?(:(-?\d*))?")
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">")


class _PathParser:
    """Parses one path expression such as `.items[?(@.a=="b")].metadata.name`."""

    def __init__(self, text: str, template: str) -> None:
        self.text = text
        self.template = template
        self.position = 0

    def error(self, message: str) -> JsonPathError:
        return JsonPathError(
            f"invalid JSONPath '{self.template}': {message} at position {self.position + 1} "
            f"of '{self.text}'"
        )

    def at(self, prefix: str) -> bool:
        return self.text.startswith(prefix, self.position)

    def parse(self) -> Path:
        return self.path(stop="")

    def path(self, stop: str) -> Path:
        from_root = False
        if self.at("$"):
            from_root = True
            self.position += 1
        elif self.at("@"):
            self.position += 1
        segments: list[Segment] = []
        while self.position < len(self.text) and self.text[self.position] not in stop:
            segment = self.segment()
            if segment is not None:
                segments.append(segment)
        return Path(from_root, tuple(segments))

    def segment(self) -> Segment | None:
        if self.at(".."):
            self.position += 2
            if self.at("*"):
                self.position += 1
                return Recursive(None)
            return Recursive(self.name())
        if self.at("."):
            self.position += 1
            if self.at("*"):
                self.position += 1
                return Field(None)
            if self.position == len(self.text) or self.at("["):
                return None  # `{.}` is the current value itself; `.[0]` is `[0]`
            return Field(self.name())
        if self.at("["):
            return self.bracket()
        raise self.error(f"expected '.' or '[', found '{self.text[self.position]}'")

    def name(self) -> str:
        chars: list[str] = []
        while self.position < len(self.text):
            char = self.text[self.position]
            if char == "\\" and self.position + 1 < len(self.text):
                chars.append(self.text[self.position + 1])
                self.position += 2
                continue
            if char in ".[]() =!<>,":
                break
            chars.append(char)
            self.position += 1
        if not chars:
            raise self.error("expected a field name")
        return "".join(chars)

    def bracket(self) -> Segment:
        self.position += 1  # [
        self.skip_spaces()
        if self.at("?"):
            segment: Segment = self.filter()
        elif self.at("*"):
            self.position += 1
            segment = Field(None)
        else:
            segment = self.members()
        self.skip_spaces()
        if not self.at("]"):
            raise self.error("expected ']'")
        self.position += 1
        return segment

    def members(self) -> Segment:
        first = self.member()
        if isinstance(first, Slice):
            return first
        members = [first]
        self.skip_spaces()
        while self.at(","):
            self.position += 1
            self.skip_spaces()
            member = self.member()
            if isinstance(member, Slice):
                raise self.error("a slice cannot be part of a union")
            members.append(member)
            self.skip_spaces()
        return members[0] if len(members) == 1 else Union(tuple(members))

    def member(self) -> Index | Field | Slice:
        if self.at("'") or self.at('"'):
            return Field(self.quoted())
        match = _INDEX_OR_SLICE.match(self.text, self.position)
        assert match is not None
        if not match.group(0):
            raise self.error("expected an index, a slice, '*', a quoted key or a filter")
        self.position = match.end()
        if match.group(2) is None:
            return Index(int(match.group(1)))

        def number(text: str | None) -> int | None:
            return int(text) if text else None

        return Slice(number(match.group(1)), number(match.group(3)), number(match.group(5)))

    def quoted(self) -> str:
        quote = self.text[self.position]
        end = self.position + 1
        while end < len(self.text) and self.text[end] != quote:
            end += 2 if self.text[end] == "\\" else 1
        if end >= len(self.text):
            raise self.error("unterminated quoted string")
        raw = self.text[self.position : end + 1]
        self.position = end + 1
        return _unquote(raw)

    def filter(self) -> Filter:
        self.position += 1  # ?
        if not self.at("("):
            raise self.error("expected '(' after '?'")
        self.position += 1
        self.skip_spaces()
        if not (self.at("@") or self.at("$")):
            raise self.error("a filter starts with @ (the item) or $ (the root)")
        left = self.path(stop=" =!<>)")
        self.skip_spaces()
        operator = next((op for op in _OPERATORS if self.at(op)), None)
        right: Path | Literal | None = None
        if operator is not None:
            self.position += len(operator)
            self.skip_spaces()
            right = self.operand()
            self.skip_spaces()
        if not self.at(")"):
            raise self.error("expected ')' to end the filter")
        self.position += 1
        return Filter(left, operator, right)

    def operand(self) -> Path | Literal:
        if self.at("@") or self.at("$"):
            return self.path(stop=" )")
        if self.at("'") or self.at('"'):
            return Literal(self.quoted())
        end = self.position
        while end < len(self.text) and self.text[end] not in " )":
            end += 1
        word = self.text[self.position : end]
        self.position = end
        if word in ("true", "false"):
            return Literal(word == "true")
        if word == "null":
            return Literal(None)
        if _NUMBER.match(word):
            return Literal(float(word) if any(c in word for c in ".eE") else int(word))
        raise self.error(f"'{word}' is not a quoted string, a number, true, false or null")

    def skip_spaces(self) -> None:
        while self.at(" "):
            self.position += 1


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


def _unquote(raw: str) -> str:
    """A quoted string without its quotes, with `\\n`, `\\t`, `\\r` and `\\<char>` applied."""
    body = raw[1:-1]
    out: list[str] = []
    position = 0
    while position < len(body):
        char = body[position]
        if char == "\\" and position + 1 < len(body):
            following = body[position + 1]
            out.append(_ESCAPES.get(following, following))
            position += 2
            continue
        out.append(char)
        position += 1
    return "".join(out)


def _actions(template: str) -> Iterator[tuple[bool, str]]:
    """(is_action, text) pieces of a template: text outside braces and action bodies."""
    position = 0
    while position < len(template):
        start = template.find("{", position)
        if start < 0:
            yield False, template[position:]
            return
        if start > position:
            yield False, template[position:start]
        end = start + 1
        quote: str | None = None
        depth = 0
        while end < len(template):
            char = template[end]
            if quote is not None:
                if char == "\\":
                    end += 1
                elif char == quote:
                    quote = None
            elif char in "'\"":
                quote = char
            elif char in "[(":
                depth += 1
            elif char in "])":
                depth -= 1
            elif char == "}" and depth <= 0:
                break
            end += 1
        if end >= len(template):
            raise JsonPathError(f"invalid JSONPath '{template}': unclosed action '{{'")
        yield True, template[start + 1 : end].strip()
        position = end + 1


def parse_template(template: str) -> Template:
    """Parse a kubectl JSONPath template; JsonPathError saying what is wrong."""
    stack: list[tuple[Path | None, list[Node]]] = [(None, [])]
    for is_action, text in _actions(template):
        nodes = stack[-1][1]
        if not is_action:
            nodes.append(Text(text))
        elif text == "end":
            if len(stack) == 1:
                raise JsonPathError(f"invalid JSONPath '{template}': 'end' without 'range'")
            path, body = stack.pop()
            assert path is not None
            stack[-1][1].append(Range(path, tuple(body)))
        elif text.startswith("range ") or text == "range":
            expression = text[len("range") :].strip()
            if not expression:
                raise JsonPathError(f"invalid JSONPath '{template}': 'range' needs a path")
            stack.append((_PathParser(expression, template).parse(), []))
        elif text[:1] in ("'", '"'):
            if len(text) < 2 or text[-1] != text[0]:
                raise JsonPathError(f"invalid JSONPath '{template}': unterminated string {text}")
            nodes.append(Text(_unquote(text)))
        elif not text:
            raise JsonPathError(f"invalid JSONPath '{template}': empty action '{{}}'")
        else:
            nodes.append(Action(_PathParser(text, template).parse()))
    if len(stack) > 1:
        raise JsonPathError(f"invalid JSONPath '{template}': 'range' without 'end'")
    return Template(template, tuple(stack[0][1]))


def parse_relaxed(expression: str) -> Path:
    """A path as `custom-columns` and `--sort-by` take it: `.a.b`, `a.b` or `{.a.b}`."""
    text = expression.strip()
    if not text:
        raise JsonPathError("an empty JSONPath")
    if not text.startswith("{"):
        if not text.startswith((".", "$", "[", "@")):
            text = "." + text
        text = "{" + text + "}"
    template = parse_template(text)
    if len(template.nodes) != 1 or not isinstance(template.nodes[0], Action):
        raise JsonPathError(f"'{expression}' must be one path such as .metadata.name")
    return template.nodes[0].path
