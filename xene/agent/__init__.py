"""The agent daemon: connection to the server, trigger controllers, executors."""
