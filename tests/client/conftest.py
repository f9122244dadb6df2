"""Client tests run against a real crispml server process (the API tests' `Server`)."""

from tests.api.conftest import client, make_server, server, shared_server

__all__ = ["client", "make_server", "server", "shared_server"]
