"""Contract suites: the same expectations run against etcd (integration) and memory (unit)."""
