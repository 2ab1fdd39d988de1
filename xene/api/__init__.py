"""Plain object models, validation and states of Xene's API. No I/O, no other Xene imports."""
