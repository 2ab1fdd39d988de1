"""kubectl's JSONPath subset: templates, ranges, filters, relaxed paths and clear errors."""

from __future__ import annotations

import pytest

from xene.ctl.jsonpath import JsonPathError, parse_relaxed, parse_template

LISTING = {
    "kind": "List",
    "items": [
        {
            "metadata": {"name": "hello.build.1", "labels": {"xene.dev/workflow": "hello"}},
            "spec": {"number": 1, "parameters": {"A": "x"}},
            "status": {"phase": "Succeeded", "tasks": {"a": {"phase": "Succeeded"}}},
        },
        {
            "metadata": {"name": "hello.build.2", "labels": {"xene.dev/workflow": "hello"}},
            "spec": {"number": 2},
            "status": {"phase": "Failed", "tasks": {"a": {"phase": "Failed"}}},
        },
        {
            "metadata": {"name": "other.main.7", "labels": {}},
            "spec": {"number": 7},
            "status": {"phase": "Running"},
        },
    ],
}


def render(template: str, data: object = LISTING) -> str:
    return parse_template(template).render(data)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{.items[*].metadata.name}", "hello.build.1 hello.build.2 other.main.7"),
        ("{.items[0].metadata.name}", "hello.build.1"),
        ("{.items[-1].spec.number}", "7"),
        ("{.items[0:2].spec.number}", "1 2"),
        ("{.items[::2].spec.number}", "1 7"),
        ("{.items[0,2].spec.number}", "1 7"),
        ("{$.kind}", "List"),
        ("{.kind}", "List"),
        ("{.items[0]['metadata']['name']}", "hello.build.1"),
        ("{.items[0].metadata.labels.xene\\.dev/workflow}", "hello"),
        ("{.items[0].metadata.labels['xene.dev/workflow']}", "hello"),
        ('{.items[?(@.status.phase=="Failed")].metadata.name}', "hello.build.2"),
        ("{.items[?(@.status.phase != 'Failed')].spec.number}", "1 7"),
        ("{.items[?(@.spec.number > 1)].spec.number}", "2 7"),
        ("{.items[?(@.spec.number<=2)].spec.number}", "1 2"),
        ("{.items[?(@.spec.parameters)].metadata.name}", "hello.build.1"),
        ("{..phase}", "Succeeded Succeeded Failed Failed Running"),
        ("{.items[0].spec.parameters}", '{"A":"x"}'),
        ("{.items[0].spec.parameters.*}", "x"),
        ("{.items[*].missing}", ""),
        ("names: {.items[0].metadata.name}!", "names: hello.build.1!"),
        (
            '{range .items[*]}{.metadata.name}{"\\t"}{.status.phase}{"\\n"}{end}',
            "hello.build.1\tSucceeded\nhello.build.2\tFailed\nother.main.7\tRunning\n",
        ),
        (
            "{range .items[?(@.spec.number<7)]}[{range .status.tasks.*}{.phase}{end}]{end}",
            "[Succeeded][Failed]",
        ),
    ],
)
def test_templates_render_like_kubectl(template: str, expected: str) -> None:
    assert render(template) == expected


def test_the_whole_object_and_scalars() -> None:
    assert render("{.}", {"a": 1}) == '{"a":1}'
    assert render("{.a} {.b} {.c}", {"a": True, "b": None, "c": 1.5}) == "true null 1.5"


def test_relaxed_paths_of_custom_columns_and_sort_by() -> None:
    for text in (".metadata.name", "metadata.name", "{.metadata.name}"):
        assert parse_relaxed(text).evaluate(LISTING["items"][0], LISTING["items"][0]) == [
            "hello.build.1"
        ]


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{.items[", "unclosed action"),
        ("{.items[*}", "unclosed action"),
        ("{.items[x]}", "expected an index"),
        ("{range .items[*]}{.a}", "'range' without 'end'"),
        ("{end}", "'end' without 'range'"),
        ("{}", "empty action"),
        ("{.items[?(@.a ~ 1)]}", "expected ')' to end the filter"),
        ("{.items[?(@.a == bare)]}", "'bare' is not a quoted string"),
        ("{.items[?(.a)]}", "a filter starts with @"),
        ("{.a b}", "expected '.' or '[', found ' ' at position 3"),
    ],
)
def test_malformed_templates_say_what_is_wrong(template: str, expected: str) -> None:
    with pytest.raises(JsonPathError) as raised:
        parse_template(template)
    assert expected in str(raised.value)


def test_a_relaxed_path_must_be_one_path() -> None:
    with pytest.raises(JsonPathError, match="must be one path"):
        parse_relaxed("{.a}{.b}")
    with pytest.raises(JsonPathError, match="empty"):
        parse_relaxed(" ")
