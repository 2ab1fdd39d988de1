"""The gRPC transport: the AgentService agents hold their streams on."""
