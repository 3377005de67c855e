"""The embedded log store: a tantivy index written by the ``store`` output and read by the search API.

One process writes (the agent, through :mod:`podlog.store.writer`); any number of processes read
(:mod:`podlog.store.reader`), seeing each commit about a second after it happened. Everything here imports
tantivy, so only the ``store`` output, ``podlog up`` and the API server load it.
"""
