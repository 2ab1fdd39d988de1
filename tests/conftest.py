"""Fixtures shared by all test layers live in tests/fixtures/ and are registered here."""

pytest_plugins = [
    "tests.fixtures.etcd",
    "tests.fixtures.docker",
    "tests.fixtures.servers",
    "tests.fixtures.agents",
    "tests.fixtures.etcd_cluster",
    "tests.fixtures.memory_store",
    "tests.fixtures.browser",
]
