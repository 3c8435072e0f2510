"""How sessions run things: the shared memory environment, what is installed into it, the
pytest runs and their endings, the one-run-at-a-time lock, the reports folder."""
