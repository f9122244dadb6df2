"""The `crispml` command line: the nine methods and their companions, over the local store or a server.

Importing this package (to print help or parse arguments) loads no scikit-learn, pandas or SQLAlchemy:
every command imports what it needs when it runs.
"""

from crispml.cli.app import app, main

__all__ = ["app", "main"]
