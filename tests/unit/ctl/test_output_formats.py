"""`get` as kubectl users expect it: several kinds, selectors, jsonpath, custom columns, sorting,
labels, headers; and `apply -f` of the List that `get -o yaml` prints."""

from __future__ import annotations

import json
import re

import yaml

from tests.unit.ctl.fake_api import FakeApiServer, pipeline_object, workflow_object


def seed(fake: FakeApiServer) -> None:
    hello = workflow_object("hello", pipelines=2)
    hello["metadata"]["labels"] = {"team": "core", "tier": "1"}
    fake.add("workflows", hello)
    other = workflow_object("other")
    other["metadata"]["labels"] = {"team": "web", "tier": "10"}
    fake.add("workflows", other)
    fake.add("pipelines", pipeline_object("hello.build"))
    lint = pipeline_object("hello.lint", phase="NotScheduled", agent=None)
    fake.add("pipelines", lint)


def cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def test_several_kinds_print_one_table_each_with_qualified_names(
    xenectl, fake_api: FakeApiServer
) -> None:
    seed(fake_api)
    result = xenectl("get", "wf,pl")
    assert result.exit_code == 0, result.output
    tables = result.stdout.split("\n\n")
    assert len(tables) == 2
    assert [cells(line)[0] for line in tables[0].splitlines()] == [
        "NAME",
        "workflow.xene.dev/hello",
        "workflow.xene.dev/other",
    ]
    assert cells(tables[1].splitlines()[0])[:3] == ["NAME", "WORKFLOW", "STATUS"]
    assert cells(tables[1].splitlines()[1])[0] == "pipeline.xene.dev/hello.build"


def test_several_kinds_as_yaml_are_one_list(xenectl, fake_api: FakeApiServer) -> None:
    seed(fake_api)
    listed = yaml.safe_load(xenectl("get", "wf,pl", "-o", "yaml").stdout)
    assert listed["kind"] == "List"
    assert [(item["kind"], item["metadata"]["name"]) for item in listed["items"]] == [
        ("Workflow", "hello"),
        ("Workflow", "other"),
        ("Pipeline", "hello.build"),
        ("Pipeline", "hello.lint"),
    ]


def test_kind_slash_name_arguments_and_several_names(xenectl, fake_api: FakeApiServer) -> None:
    seed(fake_api)
    result = xenectl("get", "wf/hello", "pl/hello.lint", "-o", "name")
    assert result.stdout == "workflow.xene.dev/hello\npipeline.xene.dev/hello.lint\n"
    both = xenectl("get", "wf", "hello", "other", "-o", "name")
    assert both.stdout == "workflow.xene.dev/hello\nworkflow.xene.dev/other\n"
    mixed = xenectl("get", "wf", "pl/hello.lint")
    assert mixed.exit_code == 1
    assert "every one must be" in mixed.stderr


def test_full_selector_grammar_reaches_the_server_in_canonical_form(
    xenectl, fake_api: FakeApiServer
) -> None:
    seed(fake_api)
    result = xenectl("get", "wf", "-l", "team!=core", "-o", "name")
    assert result.stdout == "workflow.xene.dev/other\n"
    assert fake_api.requests[-1].url.params["labelSelector"] == "team!=core"
    spaced = xenectl("get", "wf", "-l", "team in ( core , web ),!gone", "-o", "name")
    assert spaced.stdout.count("\n") == 2
    assert fake_api.requests[-1].url.params["labelSelector"] == "team in (core,web),!gone"


def test_a_malformed_selector_is_refused_before_any_request(
    xenectl, fake_api: FakeApiServer
) -> None:
    result = xenectl("get", "wf", "-l", "team in core")
    assert result.exit_code == 1
    assert "invalid label selector 'team in core': expected '(' after 'in'" in result.stderr
    assert fake_api.requests == []


def test_jsonpath_on_a_list_and_on_one_object(xenectl, fake_api: FakeApiServer) -> None:
    seed(fake_api)
    names = xenectl("get", "wf", "-o", "jsonpath={.items[*].metadata.name}")
    assert names.stdout == "hello other"
    assert xenectl("get", "wf", "-o=jsonpath={.items[0].metadata.name}").stdout == "hello"
    one = xenectl("get", "wf", "hello", "-o", "jsonpath={.metadata.labels.team}")
    assert one.stdout == "core"
    ranged = xenectl(
        "get",
        "pl",
        "-o",
        'jsonpath={range .items[?(@.status.phase=="NotScheduled")]}{.metadata.name}{"\\n"}{end}',
    )
    assert ranged.stdout == "hello.lint\n"


def test_custom_columns_with_missing_fields_and_no_headers(
    xenectl, fake_api: FakeApiServer
) -> None:
    seed(fake_api)
    spec = "custom-columns=NAME:.metadata.name,AGENT:.status.agent,TEAM:metadata.labels.team"
    lines = xenectl("get", "pl", "-o", spec).stdout.splitlines()
    assert [cells(line) for line in lines] == [
        ["NAME", "AGENT", "TEAM"],
        ["hello.build", "agent-1", "<none>"],
        ["hello.lint", "<none>", "<none>"],
    ]
    bare = xenectl("get", "pl", "-o", spec, "--no-headers").stdout.splitlines()
    assert [cells(line)[0] for line in bare] == ["hello.build", "hello.lint"]


def test_sort_by_numbers_sorts_numerically(xenectl, fake_api: FakeApiServer) -> None:
    seed(fake_api)
    result = xenectl("get", "wf", "--sort-by", "{.metadata.labels.tier}", "-o", "name")
    # Label values are text: "1" < "10" either way; sort by a number field too.
    assert result.stdout == "workflow.xene.dev/hello\nworkflow.xene.dev/other\n"
    fake_api.objects["workflows"]["hello"]["spec"]["rank"] = 20
    fake_api.objects["workflows"]["other"]["spec"]["rank"] = 3
    numeric = xenectl("get", "wf", "--sort-by", ".spec.rank", "-o", "name")
    assert numeric.stdout == "workflow.xene.dev/other\nworkflow.xene.dev/hello\n"


def test_show_labels_adds_a_labels_column(xenectl, fake_api: FakeApiServer) -> None:
    seed(fake_api)
    lines = xenectl("get", "wf", "--show-labels").stdout.splitlines()
    assert cells(lines[0])[-1] == "LABELS"
    assert cells(lines[1])[-1] == "team=core,tier=1"


def test_malformed_output_formats_are_usage_errors(xenectl, fake_api: FakeApiServer) -> None:
    for output, expected in (
        ("jsonpath={.items[", "unclosed action"),
        ("custom-columns=NAME", "is not HEADER:JSONPATH"),
        ("xml", "'xml' is not an output format"),
    ):
        result = xenectl("get", "wf", "-o", output)
        assert result.exit_code == 1
        assert expected in result.stderr
    bad_sort = xenectl("get", "wf", "--sort-by", ".items[")
    assert bad_sort.exit_code == 1
    assert fake_api.requests == []


def test_watch_of_several_kinds_is_refused(xenectl, fake_api: FakeApiServer) -> None:
    result = xenectl("get", "wf,pl", "-w")
    assert result.exit_code == 1
    assert "watches one kind at a time" in result.stderr


def test_apply_of_a_list_applies_its_items(xenectl, fake_api: FakeApiServer) -> None:
    seed(fake_api)
    listing = xenectl("get", "wf", "-o", "json").stdout
    result = xenectl("apply", "-f", "-", input=listing)
    assert result.exit_code == 0, result.output
    assert result.stdout == "workflow.xene.dev/hello unchanged\nworkflow.xene.dev/other unchanged\n"
    applied = [
        json.loads(r.content)["metadata"]["name"] for r in fake_api.requests if r.method == "POST"
    ]
    assert applied == ["hello", "other"]


def test_an_invalid_item_leaves_the_whole_list_unapplied(xenectl, fake_api: FakeApiServer) -> None:
    good = workflow_object("good")
    bad = workflow_object("bad")
    bad["spec"]["pipelines"]["p0"]["tasks"]["main"]["dependencies"] = ["nope"]
    document = {"apiVersion": "xene.dev/v1", "kind": "List", "items": [good, bad]}
    result = xenectl("apply", "-f", "-", input=yaml.safe_dump(document))
    assert result.exit_code == 1
    assert (
        "<stdin>: items[1]: spec.pipelines.p0.tasks.main.dependencies[0]: unknown task 'nope'"
        in (result.stderr)
    )
    assert "nothing was applied" in result.stderr
    assert fake_api.requests == []


def test_a_list_whose_items_are_not_objects_is_refused(xenectl, fake_api: FakeApiServer) -> None:
    result = xenectl("apply", "-f", "-", input="kind: List\nitems: [1, {a: b}]\n")
    assert result.exit_code == 1
    assert "items[0]: must be an object" in result.stderr
    assert fake_api.requests == []
