"""memwise's memory toolkit, rendered into this project by the memwise Copier template.

It holds the work behind the project's memory sessions, so the project's noxfile only lists
them: ``memwise.nox_sessions`` declares the sessions, ``memwise.sessions`` runs them,
``memwise.pytest_plugin`` measures each test, ``memwise.gate`` compares figures with the
committed baseline and ``memwise.tracking`` records a critical path in the running service.
Settings come from ``[tool.memwise]`` in the project's pyproject.toml (``memwise.settings``).
memwise owns this package: ``copier update`` brings its fixes; edit your settings instead.
"""

__version__ = "0.3.0"
