"""Reading `-f FILE|DIR|-` arguments into documents, one source file at a time.

A `List` (what `xenectl get -o yaml|json` prints, or a `WorkflowList` from the API) stands for
its items, so a listing saved or piped from `get` applies as it is.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from xene.api.documents import parse_documents
from xene.api.errors import FieldError, Invalid, TooLarge, XeneError

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
STDIN_NAME = "<stdin>"
MAX_SOURCE_BYTES = 1 << 20


@dataclass(frozen=True)
class Source:
    """The bytes of one file (or of stdin) and the name to report problems under."""

    name: str
    content: bytes


@dataclass(frozen=True)
class Document:
    """One object read from a source: the parsed mapping and where it came from."""

    source: str
    index: int
    body: dict[str, Any]
    # The position in a `List` document's items, when the object came from one.
    item: int | None = None

    @property
    def kind(self) -> str:
        """The document's `kind:`, or an empty string."""
        return str(self.body.get("kind") or "")

    @property
    def name(self) -> str:
        """The document's `metadata.name`, or an empty string."""
        metadata = self.body.get("metadata")
        return str(metadata.get("name") or "") if isinstance(metadata, dict) else ""


def expand_paths(paths: Sequence[str]) -> list[str]:
    """The files named by `paths`: a directory stands for its manifests, sorted; `-` is stdin."""
    files: list[str] = []
    for given in paths:
        if given == "-":
            if "-" in files:
                raise Invalid([FieldError("-", "stdin can be read only once")])
            files.append("-")
            continue
        path = Path(given)
        if path.is_dir():
            found = sorted(
                child
                for child in path.iterdir()
                if child.suffix.lower() in MANIFEST_SUFFIXES and child.is_file()
            )
            if not found:
                suffixes = ", ".join(MANIFEST_SUFFIXES)
                raise Invalid([FieldError(given, f"the directory holds no {suffixes} files")])
            files.extend(str(child) for child in found)
        elif path.exists():
            files.append(given)
        else:
            raise Invalid([FieldError(given, "no such file or directory")])
    return files


def read_source(path: str, stdin: BinaryIO) -> Source:
    """The content of one file or of stdin (`-`); TooLarge past MAX_SOURCE_BYTES."""
    limit = f"the limit of {MAX_SOURCE_BYTES} bytes (1 MiB)"
    if path == "-":
        # One byte past the limit is enough to know stdin is too large; the rest stays unread.
        content = stdin.read(MAX_SOURCE_BYTES + 1)
        if len(content) > MAX_SOURCE_BYTES:
            raise TooLarge(f"{STDIN_NAME} holds more than {limit}")
        return Source(STDIN_NAME, content)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_SOURCE_BYTES:
                raise TooLarge(f"{path} is {size} bytes, more than {limit}")
            return Source(path, handle.read(MAX_SOURCE_BYTES + 1))
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise Invalid([FieldError(path, f"cannot read: {reason}")]) from exc


def is_list(body: dict[str, Any]) -> bool:
    """True for a `List` (or `WorkflowList`…) document: its items are the objects."""
    kind = body.get("kind")
    return isinstance(kind, str) and kind.endswith("List") and "items" in body


def _list_items(source: str, index: int, body: dict[str, Any]) -> list[Document]:
    items = body.get("items")
    if items is None:
        return []
    if not isinstance(items, list):
        raise Invalid([FieldError(f"document {index + 1}: items", "must be a list of objects")])
    problems = [
        FieldError(f"document {index + 1}: items[{position}]", "must be an object (a mapping)")
        for position, item in enumerate(items)
        if not isinstance(item, dict)
    ]
    if problems:
        raise Invalid(problems)
    return [Document(source, index, item, position) for position, item in enumerate(items)]


def parse_source(source: Source) -> list[Document]:
    """The documents of one source, List items in their place; raises Invalid or TooLarge."""
    bodies = parse_documents(source.content, source=source.name, max_bytes=MAX_SOURCE_BYTES)
    documents: list[Document] = []
    for index, body in enumerate(bodies):
        if is_list(body):
            documents.extend(_list_items(source.name, index, body))
        else:
            documents.append(Document(source.name, index, body))
    return documents


def source_problems(source: str, exc: XeneError) -> list[FieldError]:
    """The problems of `exc` with paths that start with the source, read `FILE: path: message`."""
    if isinstance(exc, Invalid):
        errors = exc.errors
    else:
        # Messages such as TooLarge's may begin with the source already: keep it once.
        errors = [FieldError("", exc.message.removeprefix(source + " "))]
    problems = []
    for error in errors:
        if error.path == source or error.path.startswith(source + ":"):
            problems.append(error)
        elif error.path:
            problems.append(FieldError(f"{source}: {error.path}", error.message))
        else:
            problems.append(FieldError(source, error.message))
    return problems


def load_documents(paths: Sequence[str], stdin: BinaryIO) -> list[Document]:
    """Every document of every path, in order; raises Invalid listing all sources' problems."""
    documents: list[Document] = []
    problems: list[FieldError] = []
    for path in expand_paths(paths):
        try:
            documents.extend(parse_source(read_source(path, stdin)))
        except XeneError as exc:
            problems.extend(source_problems(STDIN_NAME if path == "-" else path, exc))
    if problems:
        raise Invalid(problems)
    return documents
