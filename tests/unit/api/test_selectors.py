"""Label selectors: the Kubernetes grammar, what each requirement matches, and clear refusals."""

from __future__ import annotations

import pytest

from xene.api.errors import Invalid
from xene.api.selectors import LabelSelector, Requirement, parse_selector

PROD = {"env": "prod", "tier": "web", "replicas": "3"}
QA = {"env": "qa", "tier": "db"}
BARE: dict[str, str] = {}


@pytest.mark.parametrize(
    ("text", "prod", "qa", "bare"),
    [
        ("env=prod", True, False, False),
        ("env==prod", True, False, False),
        ("env!=prod", False, True, True),  # absent labels match != as in Kubernetes
        ("env in (prod, qa)", True, True, False),
        ("env notin (prod)", False, True, True),
        ("env", True, True, False),
        ("!env", False, False, True),
        ("env=prod,tier=web", True, False, False),  # comma is AND
        ("env=prod,tier=db", False, False, False),
        ("env,!missing", True, True, False),
        ("replicas>2", True, False, False),
        ("replicas<3", False, False, False),
        ("  env  =  qa  ,  tier in (db)  ", False, True, False),
        ("", True, True, True),
    ],
)
def test_requirements_match_as_in_kubernetes(text: str, prod: bool, qa: bool, bare: bool) -> None:
    selector = parse_selector(text)
    assert selector.matches(PROD) is prod
    assert selector.matches(QA) is qa
    assert selector.matches(BARE) is bare


def test_not_equal_is_an_operator_not_part_of_the_key() -> None:
    # The bug this module replaces: `a!=b` was read as key `a!` and matched nothing.
    selector = parse_selector("a!=b")
    assert selector.requirements == (Requirement("a", "!=", ("b",)),)
    assert selector.matches({"a": "c"})
    assert selector.matches({})
    assert not selector.matches({"a": "b"})


def test_empty_value_selects_the_empty_label() -> None:
    selector = parse_selector("env=")
    assert selector.matches({"env": ""})
    assert not selector.matches({"env": "prod"})
    assert not selector.matches({})


def test_prefixed_keys_and_values_with_dots() -> None:
    selector = parse_selector("xene.dev/pipeline=hello.build")
    assert selector.matches({"xene.dev/pipeline": "hello.build"})


def test_canonical_text_parses_back_to_the_same_selector() -> None:
    text = "env in (prod,qa),!legacy,tier!=db,team,replicas>1,xene.dev/workflow=hello"
    selector = parse_selector(text)
    assert str(selector) == text
    assert parse_selector(str(selector)) == selector


def test_equal_to_builds_the_selector_of_a_label_map() -> None:
    selector = LabelSelector.equal_to({"a": "1", "b": "2"})
    assert str(selector) == "a=1,b=2"
    assert selector.matches({"a": "1", "b": "2", "c": "3"})
    assert not selector.matches({"a": "1"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("env in prod", "expected '(' after 'in', found 'prod'"),
        ("env in (prod", "expected ',' or ')' in the values of 'in', found the end"),
        ("env in ()", "'in' needs at least one value"),
        ("env notin ()", "'notin' needs at least one value"),
        ("=prod", "expected a label key at the start of a requirement, found '='"),
        ("env=prod,", "expected a label key at the start of a requirement, found the end"),
        ("env prod", "expected one of =, ==, !=, in, notin, >, < or ',' after 'env', found 'prod'"),
        ("!", "expected a label key after '!', found the end"),
        ("env=a=b", "expected ',' or the end after a requirement, found '='"),
        ("replicas>many", "expected an integer after '>', found 'many'"),
        ("-bad=x", "'-bad' is not a valid key"),
        ("env=-x", "'-x' is not a valid label value"),
        ("env=(", "expected a value after '=', found '('"),
    ],
)
def test_malformed_selectors_say_what_is_wrong(text: str, expected: str) -> None:
    with pytest.raises(Invalid) as raised:
        parse_selector(text, "-l")
    problem = raised.value.errors[0]
    assert problem.path == "-l"
    assert problem.message.startswith(f"invalid label selector '{text}': ")
    assert expected in problem.message
