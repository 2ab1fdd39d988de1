"""Reading manifests: YAML streams (`---` separated) or JSON, into plain JSON-like mappings.

Untrusted input is read defensively: a size limit, a nesting limit, a limit on YAML aliases and on
how much they expand (the "billion laughs" document), no duplicate keys, string keys only. Scalars
follow the YAML 1.2 core schema, so `on`, `yes`, `12:30` and `2024-01-01` stay strings instead of
turning into booleans, sexagesimal integers and dates, and every value is JSON-ready.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, NoReturn

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from xene.api.errors import FieldError, Invalid, TooLarge

MAX_DOCUMENT_BYTES = 1024 * 1024
MAX_NESTING_DEPTH = 100
MAX_ALIASES = 1000
# Nodes aliases may add beyond those written out; generous for shared step lists, far below a bomb.
MAX_ALIAS_EXPANSION = 100_000

_TAG = "tag:yaml.org,2002:"
_MERGE_TAG = _TAG + "merge"
_SCALAR_TAGS = {_TAG + name for name in ("str", "int", "float", "bool", "null")} | {_MERGE_TAG}


class _PureManifestLoader(yaml.SafeLoader):
    """Safe loader with YAML 1.2 core-schema scalars, in pure Python (no limits of libyaml's)."""

    yaml_implicit_resolvers: dict[Any, Any] = {}


try:  # libyaml is much faster; the pure-Python parser is the same grammar

    class _FastManifestLoader(yaml.CSafeLoader):
        """Safe loader with YAML 1.2 core-schema scalars, on libyaml."""

        yaml_implicit_resolvers: dict[Any, Any] = {}

    # Any: the C and the pure-Python loaders share no base class in the type stubs.
    _ManifestLoader: Any = _FastManifestLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _ManifestLoader = _PureManifestLoader


_SCALAR_PATTERNS = {
    _TAG + "bool": re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    _TAG + "int": re.compile(r"^(?:[-+]?(?:0|[1-9][0-9]*)|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    _TAG + "float": re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?[0-9]+[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    _TAG + "null": re.compile(r"^(?:~|null|Null|NULL|)$"),
    _MERGE_TAG: re.compile(r"^(?:<<)$"),
}
_FIRST_CHARACTERS = {
    _TAG + "bool": "tTfF",
    _TAG + "int": "-+0123456789",
    _TAG + "float": "-+.0123456789",
    _TAG + "null": ["~", "n", "N", ""],
    _MERGE_TAG: "<",
}
for _tag, _pattern in _SCALAR_PATTERNS.items():
    for _loader in (_ManifestLoader, _PureManifestLoader):
        _loader.add_implicit_resolver(_tag, _pattern, list(_FIRST_CHARACTERS[_tag]))


def parse_documents(
    text: str | bytes, source: str = "<stdin>", max_bytes: int = MAX_DOCUMENT_BYTES
) -> list[dict[str, Any]]:
    """The mappings in a YAML stream or JSON text; raises ParseError, Invalid or TooLarge."""
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise TooLarge(
            f"{source} is {size} bytes, more than the limit of {max_bytes} bytes "
            f"({_human_size(max_bytes)})"
        )
    content = _decode(text, source)
    if source.lower().endswith(".json"):
        values = _load_json(content, source)
    elif content.lstrip().startswith(("{", "[")):
        try:
            values = _load_json(content, source)
        except Invalid as json_error:
            # `{a: 1}` is a YAML flow mapping; only if YAML cannot read it either is it broken JSON.
            try:
                values = _load_yaml(content, source)
            except Invalid:
                raise json_error from None
    else:
        values = _load_yaml(content, source)
    documents: list[dict[str, Any]] = []
    for number, (value, where) in enumerate(values, start=1):
        if value is None:
            continue
        if not isinstance(value, dict):
            raise Invalid(
                [
                    FieldError(
                        source,
                        f"document {number}{where} is {describe_type(value)}, not a mapping "
                        "(a manifest has apiVersion, kind, metadata and spec)",
                    )
                ]
            )
        documents.append(value)
    return documents


class ParseError(Invalid):
    """The text cannot be read as YAML or JSON (syntax, encoding, nesting, aliases, keys).

    A subclass of Invalid so callers may treat all input problems alike; transports that tell
    unreadable bodies (400) from well-formed but wrong ones (422) catch this one first.
    """


def _human_size(size: int) -> str:
    if size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MiB"
    if size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size} bytes"


def _fail(source: str, message: str) -> NoReturn:
    # The source is the path, so `str(error)` and the message read `FILE: line 3, column 5: ...`.
    raise ParseError([FieldError(source, message)])


def _decode(text: str | bytes, source: str) -> str:
    if isinstance(text, str):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            _fail(source, f"character {exc.start} is not valid Unicode text")
        return text.removeprefix("\ufeff")
    for bom, encoding in (
        (b"\xef\xbb\xbf", "utf-8"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\xfe\xff", "utf-16-be"),
    ):
        if text.startswith(bom):
            body, codec = text[len(bom) :], encoding
            break
    else:
        body, codec = text, "utf-8"
    try:
        return body.decode(codec)
    except UnicodeDecodeError as exc:
        _fail(source, f"is not {codec.upper()} text (byte {exc.start}: {exc.reason})")


def _position(line: int, column: int) -> str:
    return f"line {line}, column {column}"


def _mark_position(mark: Any) -> str:
    """`line L, column C: ` for a parser mark (0-based), or nothing when there is none."""
    if mark is None:
        return ""
    return f"{_position(mark.line + 1, mark.column + 1)}: "


# ---- JSON ---------------------------------------------------------------------------------------


class _DuplicateKey(ValueError):
    pass


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _load_json(content: str, source: str) -> list[tuple[Any, str]]:
    """Every JSON value in `content`; several may follow one another (a JSON stream)."""
    decoder = json.JSONDecoder(
        object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
    )
    values: list[tuple[Any, str]] = []
    position = 0
    whitespace = re.compile(r"\s*")
    while True:
        position = whitespace.match(content, position).end()  # type: ignore[union-attr]
        if position >= len(content):
            return values
        try:
            value, end = decoder.raw_decode(content, position)
        except json.JSONDecodeError as exc:
            _fail(source, f"{_position(exc.lineno, exc.colno)}: {exc.msg}")
        except _DuplicateKey as exc:
            _fail(source, f"duplicate key '{exc}' in a JSON object")
        except RecursionError:
            _fail(source, f"nested more than {MAX_NESTING_DEPTH} levels deep")
        except ValueError as exc:  # e.g. NaN, or an integer too long to convert
            _fail(source, f"cannot read JSON: {exc}")
        line = content.count("\n", 0, position) + 1
        _check_json_depth(value, source, len(values) + 1)
        values.append((value, f" (line {line})"))
        position = end


def _check_json_depth(value: Any, source: str, number: int) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_NESTING_DEPTH:
            _fail(source, f"document {number} is nested more than {MAX_NESTING_DEPTH} levels deep")
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


# ---- YAML ---------------------------------------------------------------------------------------


def _yaml_error(source: str, content: str, exc: yaml.YAMLError) -> NoReturn:
    if isinstance(exc, yaml.reader.ReaderError) and isinstance(exc.position, int):
        line = content.count("\n", 0, exc.position) + 1
        column = exc.position - content.rfind("\n", 0, exc.position)
        _fail(source, f"{_position(line, column)}: {exc.reason}")
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        message = f"{_position(mark.line + 1, mark.column + 1)}: {exc.problem}"
        if exc.context:
            context_mark = exc.context_mark
            where = (
                f" at {_position(context_mark.line + 1, context_mark.column + 1)}"
                if context_mark is not None
                else ""
            )
            message += f" ({exc.context}{where})"
        _fail(source, message)
    _fail(source, f"cannot read YAML: {exc}")


def _load_yaml(content: str, source: str) -> list[tuple[Any, str]]:
    try:
        _check_event_depth(content, source)
        loader = _ManifestLoader(content)
        try:
            values: list[tuple[Any, str]] = []
            while loader.check_node():
                node = loader.get_node()
                number = len(values) + 1
                _inspect(node, source, number)
                value = loader.construct_document(node)
                values.append((value, f" (line {node.start_mark.line + 1})"))
            return values
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        _yaml_error(source, content, exc)
    except (ValueError, TypeError, OverflowError) as exc:
        # Integers past Python's digit limit, and anything else a constructor refuses.
        _fail(source, f"cannot read YAML: {str(exc).split(';')[0]}")


def _check_event_depth(content: str, source: str) -> None:
    """Refuse deep nesting and alias floods before composing (libyaml's composer recurses once
    per level), whatever limits of its own the parser has."""
    try:
        _scan_events(content, source, _ManifestLoader)
    except yaml.YAMLError as exc:
        if _ManifestLoader is _PureManifestLoader:
            raise
        # libyaml refuses some texts with limits and wording of its own (since PyYAML 6.0.4 it
        # stops at 1,000 nesting levels). The pure-Python parser has no such limits, so it meets
        # Xene's first if one is passed before the refusal; otherwise libyaml's error stands.
        mark = getattr(exc, "problem_mark", None)
        end = mark.index + 1 if mark is not None else len(content)
        try:
            _scan_events(content[:end], source, _PureManifestLoader)
        except yaml.YAMLError:
            pass  # the prefix ends mid-document; only Xene's own limits matter here
        raise


def _scan_events(content: str, source: str, loader_class: Any) -> None:
    loader = loader_class(content)
    try:
        depth = 0
        aliases = 0
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_NESTING_DEPTH:
                    _fail(
                        source,
                        f"{_mark_position(event.start_mark)}nested more than "
                        f"{MAX_NESTING_DEPTH} levels deep",
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    _fail(
                        source,
                        f"{_mark_position(event.start_mark)}more than {MAX_ALIASES} "
                        "aliases (*name); write the values out instead",
                    )
    finally:
        loader.dispose()


def _children(node: Node) -> Iterator[Node]:
    if isinstance(node, SequenceNode):
        yield from node.value
    elif isinstance(node, MappingNode):
        for key, value in node.value:
            yield key
            yield value


def _inspect(root: Node, source: str, number: int) -> None:
    """Check tags, keys, recursion and how far aliases expand the node graph of one document."""
    sizes: dict[int, int] = {}
    depths: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        key = id(node)
        if leaving:
            on_path.discard(key)
            children = list(_children(node))
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
            depths[key] = 1 + max((depths[id(child)] for child in children), default=0)
            if depths[key] > MAX_NESTING_DEPTH:
                _node_fail(
                    source, node, f"aliases nest it more than {MAX_NESTING_DEPTH} levels deep"
                )
            continue
        if key in sizes:
            continue  # a finished node seen again: an alias, counted through `sizes`
        if key in on_path:
            _node_fail(source, node, "an alias refers to a node that contains it (recursion)")
        _check_node(node, source)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(list(_children(node))))
    expanded, written = sizes[id(root)], len(sizes)
    if expanded - written > MAX_ALIAS_EXPANSION:
        _node_fail(
            source,
            root,
            f"document {number} expands through aliases to {expanded} nodes from {written} "
            f"written (limit: {MAX_ALIAS_EXPANSION} more); is it a 'billion laughs' document?",
        )


def _node_fail(source: str, node: Node, message: str) -> NoReturn:
    _fail(source, f"{_mark_position(node.start_mark)}{message}")


def _check_node(node: Node, source: str) -> None:
    if isinstance(node, ScalarNode):
        if node.tag not in _SCALAR_TAGS:
            _node_fail(
                source,
                node,
                f"tag '{node.tag.replace(_TAG, '!!')}' is not supported: values are strings, "
                "numbers, booleans, null, lists and mappings",
            )
        pattern = _SCALAR_PATTERNS.get(node.tag)
        if pattern is not None and not pattern.match(node.value):
            name = node.tag.replace(_TAG, "")
            _node_fail(source, node, f"'{node.value}' is not a valid {name}")
        return
    if isinstance(node, SequenceNode):
        if node.tag != _TAG + "seq":
            _node_fail(source, node, f"tag '{node.tag.replace(_TAG, '!!')}' is not supported")
        return
    if isinstance(node, MappingNode):
        if node.tag != _TAG + "map":
            _node_fail(source, node, f"tag '{node.tag.replace(_TAG, '!!')}' is not supported")
        seen: dict[str, int] = {}
        for key_node, _value in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag == _MERGE_TAG:
                continue
            if not isinstance(key_node, ScalarNode):
                _node_fail(source, key_node, "keys must be strings, not lists or mappings")
            if key_node.tag != _TAG + "str":
                _node_fail(
                    source, key_node, f"key {key_node.value} is not a string: quote it to use it"
                )
            name = key_node.value
            if name in seen:
                _node_fail(
                    source,
                    key_node,
                    f"duplicate key '{name}' (first at line {seen[name]})",
                )
            seen[name] = key_node.start_mark.line + 1


def describe_type(value: object) -> str:
    """How a parsed value's type reads in a message: `a list`, `an integer`, `null`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"
