"""The REST API (FastAPI): routes translate requests into service calls and nothing more."""
