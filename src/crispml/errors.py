"""One exception tree for the whole product.

Services raise these with a message a user can act on; the CLI (and later the HTTP layer) translates
each class at one edge into an exit code or a status.
"""


class CrispmlError(Exception):
    """Base of every error crispml raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(CrispmlError):
    """The caller asked for something malformed: a missing column, a frame out of range, a bad value."""

    exit_code = 2


class NotFound(CrispmlError):
    """A dataset, model, version, alias or batch that does not exist."""

    exit_code = 3


class Erased(NotFound):
    """A dataset version whose rows were deleted (a data subject's erasure, or retention); its metadata stays."""


class Conflict(CrispmlError):
    """The request collides with existing state: a duplicate name or a reused idempotency key."""

    exit_code = 4


class GateFailed(Conflict):
    """A pipeline's gate did not hold on the model's report: the pipeline stopped before persist."""


class IntegrityFailure(CrispmlError):
    """Stored state failed a check: an artifact whose sha256 does not match its record."""

    exit_code = 5


class Forbidden(CrispmlError):
    """The caller may not do this, e.g. read a server file outside the data folder."""

    exit_code = 6


class Unauthorized(CrispmlError):
    """No API key, or one that is wrong, revoked or rotated away (HTTP 401)."""

    exit_code = 6


class TooManyAttempts(Unauthorized):
    """Too many failed logins with one key id from one address: retry after `retry_after` seconds (HTTP 429)."""

    def __init__(self, message: str, *, field: str | None = None, retry_after: int = 60) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


class TooLarge(CrispmlError):
    """An upload or request exceeds the configured size limit."""

    exit_code = 2


class Unavailable(CrispmlError):
    """Something crispml needs cannot be reached: the database, or a crispml server (refused, DNS, timeout)."""

    exit_code = 7


class PortInUse(CrispmlError):
    """`crispml serve` was asked to listen on a port another process already holds."""

    exit_code = 8


class AdminRequired(CrispmlError):
    """`crispml serve` needs API keys here (a non-loopback host, or the switch on) and no admin user exists."""

    exit_code = 9
