"""Reading manifests: YAML streams and JSON, and every way untrusted text can go wrong."""

from __future__ import annotations

import json

import pytest
import yaml

from xene.api import documents
from xene.api.documents import MAX_ALIASES, ParseError, parse_documents
from xene.api.errors import Invalid, TooLarge


def _error(text: str | bytes, source: str = "wf.yaml", unreadable: bool = True) -> str:
    with pytest.raises(Invalid) as caught:
        parse_documents(text, source)
    assert isinstance(caught.value, ParseError) is unreadable
    assert len(caught.value.errors) == 1
    assert caught.value.errors[0].path == source
    return caught.value.message


def test_a_yaml_stream_gives_one_mapping_per_document_and_skips_empty_ones() -> None:
    text = "a: 1\n---\n# only a comment\n---\n---\nb: [x, y]\n...\n"
    assert parse_documents(text) == [{"a": 1}, {"b": ["x", "y"]}]


def test_an_empty_text_has_no_documents() -> None:
    assert parse_documents("") == []
    assert parse_documents("# nothing here\n") == []


def test_json_objects_one_or_several_in_a_row() -> None:
    assert parse_documents('{"a": {"b": [1, 2.5, true, null]}}') == [
        {"a": {"b": [1, 2.5, True, None]}}
    ]
    assert parse_documents(b'{"a": 1}\n{"b": 2}\n') == [{"a": 1}, {"b": 2}]


def test_a_yaml_flow_mapping_that_is_not_json_still_reads() -> None:
    assert parse_documents("{name: hello, tags: [a, b]}") == [{"name": "hello", "tags": ["a", "b"]}]


def test_scalars_follow_yaml_1_2_so_words_and_times_stay_strings() -> None:
    text = (
        "on: push\nyes: y\nanswer: no\ntime: 12:30\nday: 2024-01-31\n"
        "octal: 0755\nhex: 0x1f\nint: -42\nfloat: 1.5e3\nbool: true\nnone: ~\nempty:\n"
    )
    assert parse_documents(text) == [
        {
            "on": "push",
            "yes": "y",
            "answer": "no",
            "time": "12:30",
            "day": "2024-01-31",
            "octal": "0755",
            "hex": 31,
            "int": -42,
            "float": 1500.0,
            "bool": True,
            "none": None,
            "empty": None,
        }
    ]


def test_the_result_is_json_ready() -> None:
    text = "created: 2024-05-01T10:00:00Z\nitems: [1, {x: y}]\n"
    [document] = parse_documents(text)
    assert json.loads(json.dumps(document)) == document


def test_malformed_yaml_names_the_source_line_column_and_the_parser_problem() -> None:
    text = "apiVersion: xene.dev/v1\nkind: Workflow\nmetadata:\n  name: broken\n spec: [\n"
    assert _error(text, "broken.yaml") == (
        "broken.yaml: line 5, column 2: did not find expected key "
        "(while parsing a block mapping at line 1, column 1)"
    )


def test_an_error_in_a_later_document_is_found_at_its_line() -> None:
    text = "a: 1\n---\nb: [1, 2\nc: 3\n"
    assert _error(text) == (
        "wf.yaml: line 4, column 2: did not find expected ',' or ']' "
        "(while parsing a flow sequence at line 3, column 4)"
    )


def test_malformed_json_names_line_and_column() -> None:
    assert _error('{\n  "a": 1,\n  "b": \n}', "wf.json") == (
        "wf.json: line 4, column 1: Expecting value"
    )
    # Text that reads neither as JSON nor as YAML is reported as the JSON it looks like.
    assert _error('{\n  "a": [1,\n  "b": 2\n}', "request body") == (
        "request body: line 3, column 6: Expecting ',' delimiter"
    )


def test_a_document_that_is_not_a_mapping() -> None:
    # Readable text of the wrong shape: Invalid, but not a ParseError.
    assert _error("a: 1\n---\n- x\n- y\n", unreadable=False) == (
        "wf.yaml: document 2 (line 3) is a list, not a mapping "
        "(a manifest has apiVersion, kind, metadata and spec)"
    )
    assert _error("just words", unreadable=False) == (
        "wf.yaml: document 1 (line 1) is a string, not a mapping "
        "(a manifest has apiVersion, kind, metadata and spec)"
    )
    assert _error("[1, 2]", "wf.json", unreadable=False) == (
        "wf.json: document 1 (line 1) is a list, not a mapping "
        "(a manifest has apiVersion, kind, metadata and spec)"
    )


def test_oversized_input_is_refused_before_parsing() -> None:
    text = "a: " + "x" * 2000
    with pytest.raises(TooLarge) as caught:
        parse_documents(text, "big.yaml", max_bytes=1024)
    assert (
        caught.value.message == "big.yaml is 2003 bytes, more than the limit of 1024 bytes (1 KiB)"
    )
    with pytest.raises(TooLarge) as default_limit:
        parse_documents(b"#" * (1024 * 1024 + 1), "big.yaml")
    assert default_limit.value.message == (
        "big.yaml is 1048577 bytes, more than the limit of 1048576 bytes (1 MiB)"
    )


def test_the_limit_counts_bytes_not_characters() -> None:
    text = "a: " + "é" * 600  # 1203 bytes in UTF-8
    with pytest.raises(TooLarge):
        parse_documents(text, max_bytes=1024)


def test_a_billion_laughs_document_is_refused() -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    assert _error("\n".join(lines) + "\n") == (
        "wf.yaml: line 1, column 1: document 1 expands through aliases to 4412961516 nodes "
        "from 30 written (limit: 100000 more); is it a 'billion laughs' document?"
    )


def test_too_many_aliases_are_refused() -> None:
    text = "base: &b x\nitems: [" + ", ".join(["*b"] * (MAX_ALIASES + 1)) + "]\n"
    message = _error(text)
    assert message.startswith("wf.yaml: line 2, column ")
    assert message.endswith(": more than 1000 aliases (*name); write the values out instead")


def test_a_recursive_alias_is_refused() -> None:
    assert _error("a: &loop [1, *loop]\n") == (
        "wf.yaml: line 1, column 4: an alias refers to a node that contains it (recursion)"
    )


def test_anchors_aliases_and_merge_keys_in_moderation_work() -> None:
    text = (
        "defaults: &defaults {image: 'busybox:latest', timeout: 10m}\n"
        "steps: &steps [{name: s, run: 'true'}]\n"
        "a: {<<: *defaults, steps: *steps}\n"
        "b: {<<: *defaults, timeout: 1m, steps: *steps}\n"
    )
    [document] = parse_documents(text)
    assert document["a"] == {
        "image": "busybox:latest",
        "timeout": "10m",
        "steps": [{"name": "s", "run": "true"}],
    }
    assert document["b"]["timeout"] == "1m"


def test_deep_nesting_is_refused_without_crashing_the_parser() -> None:
    assert _error("a: " + "[" * 100_000 + "]" * 100_000) == (
        "wf.yaml: line 1, column 103: nested more than 100 levels deep"
    )
    assert _error("[" * 100_000 + "]" * 100_000, "deep.json") == (
        "deep.json: nested more than 100 levels deep"
    )
    block = "".join(" " * depth + "-\n" for depth in range(150))
    assert _error(block).endswith(": nested more than 100 levels deep")


class _ParserWithItsOwnLimit(documents._PureManifestLoader):
    """A parser that, like libyaml since PyYAML 6.0.4, refuses deep flow nesting while it looks
    ahead, before handing out any event, in words of its own."""

    limit = 300

    def check_event(self, *choices: type) -> bool:
        depth = 0
        for index, character in enumerate(self.buffer):
            depth += {"[": 1, "]": -1}.get(character, 0)
            if depth > self.limit:
                mark = yaml.Mark("<text>", index, 0, index, self.buffer, index)
                raise yaml.scanner.ScannerError(problem="too deep for me", problem_mark=mark)
        return super().check_event(*choices)


def test_the_nesting_limit_holds_whatever_the_parser_refuses_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(documents, "_ManifestLoader", _ParserWithItsOwnLimit)
    assert _error("a: " + "[" * 1000 + "]" * 1000) == (
        "wf.yaml: line 1, column 103: nested more than 100 levels deep"
    )
    # A refusal below Xene's own limit is reported as the parser words it.
    monkeypatch.setattr(_ParserWithItsOwnLimit, "limit", 50)
    assert _error("a: " + "[" * 60 + "]" * 60) == "wf.yaml: line 1, column 54: too deep for me"


def test_duplicate_keys_are_refused() -> None:
    assert _error("tasks:\n  test: {}\n  test: {}\n") == (
        "wf.yaml: line 3, column 3: duplicate key 'test' (first at line 2)"
    )
    assert _error('{"a": 1, "a": 2}', "wf.json") == "wf.json: duplicate key 'a' in a JSON object"


def test_keys_must_be_strings() -> None:
    assert (
        _error("1: one\n") == "wf.yaml: line 1, column 1: key 1 is not a string: quote it to use it"
    )
    assert _error("true: yes\n") == (
        "wf.yaml: line 1, column 1: key true is not a string: quote it to use it"
    )
    assert _error("? [a, b]\n: c\n") == (
        "wf.yaml: line 1, column 3: keys must be strings, not lists or mappings"
    )


def test_tags_beyond_plain_json_values_are_refused() -> None:
    assert _error("a: !!binary aGVsbG8=\n") == (
        "wf.yaml: line 1, column 4: tag '!!binary' is not supported: values are strings, "
        "numbers, booleans, null, lists and mappings"
    )
    assert _error("a: !!python/object:os.system {}\n") == (
        "wf.yaml: line 1, column 4: tag '!!python/object:os.system' is not supported"
    )
    assert _error("a: !!set {x, y}\n") == "wf.yaml: line 1, column 4: tag '!!set' is not supported"
    assert _error("a: !secret x\n") == (
        "wf.yaml: line 1, column 4: tag '!secret' is not supported: values are strings, "
        "numbers, booleans, null, lists and mappings"
    )
    assert _error("a: !!int twelve\n") == "wf.yaml: line 1, column 4: 'twelve' is not a valid int"
    assert parse_documents("a: !!str 12\n") == [{"a": "12"}]


def test_text_encodings() -> None:
    assert parse_documents("\ufeffa: 1\n".encode()) == [{"a": 1}]
    assert parse_documents(b"\xff\xfe" + "a: é\n".encode("utf-16-le")) == [{"a": "é"}]
    assert _error(b"a: \xff\xfe\xfd\n") == "wf.yaml: is not UTF-8 text (byte 3: invalid start byte)"
    assert (
        _error("a: 1\nb: \x07\n") == "wf.yaml: line 2, column 4: control characters are not allowed"
    )


def test_huge_numbers_are_refused() -> None:
    assert _error("a: " + "9" * 5000 + "\n") == (
        "wf.yaml: cannot read YAML: Exceeds the limit (4300 digits) for integer string "
        "conversion: value has 5000 digits"
    )
    assert _error('{"a": ' + "9" * 5000 + "}", "wf.json").startswith("wf.json: cannot read JSON: ")
