"""The API server: REST API, agent gRPC service and (on the leader) the controllers."""
