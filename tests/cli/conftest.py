"""The CLI tests run commands on real stores and against real servers (the API tests' `Server`)."""

from tests.api.conftest import client, make_server, server

__all__ = ["client", "make_server", "server"]
