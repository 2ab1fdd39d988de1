"""One module per xenectl command."""
