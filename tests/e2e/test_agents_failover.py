"""Two apiservers on one etcd: killing the leader hands the controllers to the other."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.agents import (
    apply_workflow,
    placements,
    wait_agents_ready,
    wait_until,
    workflow,
)
from tests.fixtures.servers import make_apiserver


def test_controllers_continue_on_the_other_replica(
    etcd_server, tmp_path: Path, agent_factory
) -> None:
    first_dir, second_dir = tmp_path / "one", tmp_path / "two"
    first_dir.mkdir()
    second_dir.mkdir()
    common = ("--agent-lease-ttl-seconds", "4")
    first = make_apiserver(first_dir, etcd_server.endpoint, *common)
    # Both replicas must share one keyspace: the same --etcd-prefix.
    second = make_apiserver(second_dir, etcd_server.endpoint, *common)
    prefix_at = second.args.index("--etcd-prefix") + 1
    second.args[prefix_at] = first.args[first.args.index("--etcd-prefix") + 1]
    first.start()
    wait_until(lambda: "elected leader" in first.logs(), 15, "the first replica to lead")
    second.start()
    try:
        # Agents know both replicas and fail over between them.
        both = f"{first.grpc_address},{second.grpc_address}"
        a1 = agent_factory(both, "a1", labels={"os": "linux"}, capacity=5)
        agent_factory(second.grpc_address, "a2", labels={"os": "linux"}, capacity=5)
        wait_agents_ready(second, "a1", "a2")
        apply_workflow(second, workflow("before", {"p": {"os": "linux"}}))
        wait_until(lambda: placements(second).get("before.p"), 15, "before.p to be placed")
        assert "elected leader" not in second.logs()

        first.kill()
        wait_until(
            lambda: "elected leader" in second.logs(),
            15,
            "the second replica to lead",
            lambda: second.logs()[-2000:],
        )
        apply_workflow(second, workflow("after", {"x": {"os": "linux"}, "y": {}}))
        wait_until(
            lambda: placements(second).get("after.x") and placements(second).get("after.y"),
            15,
            "the new workflow's pipelines to be derived and scheduled by the new leader",
            lambda: placements(second),
        )
        # a1 moved its stream to the surviving replica in time to stay Ready.
        wait_until(
            lambda: a1.logs().count("connected to apiserver") >= 2,
            15,
            "a1 to reconnect to the surviving replica",
            lambda: a1.logs()[-2000:],
        )
        wait_agents_ready(second, "a1", "a2")
        assert placements(second)["before.p"] in {"a1", "a2"}
    finally:
        first.kill()
        second.kill()
