"""The pytest side: the plugin and what it needs. It runs in the project's test processes,
where nox is not installed, so nothing here imports nox or a module that does."""
