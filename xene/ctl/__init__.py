"""xenectl: the command-line client of the Xene API server."""
