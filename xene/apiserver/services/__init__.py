"""Services: what transports (HTTP, gRPC) call; the only layer above the store."""
