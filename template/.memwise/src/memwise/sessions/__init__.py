"""The sessions' bodies, one module per session or family of sessions. Only
``memwise.nox_sessions`` imports them (tests/test_architecture.py)."""
