"""Every error natster raises on purpose.

Each class's docstring is the message a user sees when nothing more specific is
known; a raise site may pass a more precise message. The CLI prints ``str(error)``
on one line and exits 1, so messages are written for people: what went wrong and,
where there is one, what to do about it.

Every error has a ``status``, the one code for it everywhere: a natster service
answers a request that fails with it with that code in the reply envelope, the client
raises :class:`RemoteError` with the code it was sent, and the web UI answers with it
as the HTTP status. nats-py's exceptions become these at one boundary,
:func:`natster._nats.mapped`.
"""

from __future__ import annotations


class NatsterError(Exception):
    """Something went wrong in natster."""

    status = 500

    def __init__(self, message: str | None = None) -> None:
        doc = (type(self).__doc__ or "").strip()
        super().__init__(message or doc)

    @property
    def message(self) -> str:
        return str(self)


# --- local state -----------------------------------------------------------------


class ConfigError(NatsterError):
    """natster's local state is missing or damaged."""


class NotInitialized(ConfigError):
    """This machine has not joined a hub yet: run `natster init --invite INVITE`."""


class AlreadyInitialized(ConfigError):
    """This NATSTER_HOME already holds an account; use another NATSTER_HOME to add one."""


# --- keys, JWTs and credentials --------------------------------------------------


class SecurityError(NatsterError):
    """A key, signature or token is not valid."""

    status = 400


class InvalidKey(SecurityError):
    """That is not a valid key."""


class JwtError(SecurityError):
    """That JWT is malformed, expired, or not signed by who it claims."""


class CredsError(SecurityError):
    """That credentials file is malformed."""

    status = 500


class CryptoError(SecurityError):
    """A sealed message could not be opened: it was damaged, tampered with, or not for us."""

    status = 502


# --- the hub -----------------------------------------------------------------------


class HubError(NatsterError):
    """The hub failed."""


class NatsServerNotFound(HubError):
    """No nats-server binary found."""


class HubNotRunning(HubError):
    """The hub is not running: start it with `natster hub up --dir DIR`."""


class HubAlreadyRunning(HubError):
    """A hub is already running from that directory."""


class InviteError(NatsterError):
    """That invite is not valid: ask the hub's owner for a new one."""

    status = 403


# --- catalogs -----------------------------------------------------------------------


class CatalogError(NatsterError):
    """Something is wrong with that catalog."""

    status = 400


class InvalidCatalogName(CatalogError):
    """A catalog name is 1 to 64 characters of lowercase letters, digits, '-' and '_'."""


class CatalogExists(CatalogError):
    """A catalog with that name already exists."""

    status = 409


class CatalogNotFound(CatalogError):
    """There is no catalog with that name: see `natster catalog local`."""

    status = 404


class EntryNotFound(CatalogError):
    """No file in that catalog has that path or hash."""

    status = 404


class CatalogOffline(CatalogError):
    """That catalog is offline: its owner is not serving it right now."""

    status = 503


class NotShared(CatalogError):
    """That catalog is not shared with you (or no longer)."""

    status = 403


class TransferError(CatalogError):
    """The download failed."""

    status = 502


class IntegrityError(TransferError):
    """The downloaded file does not match the catalog's hash: nothing was kept."""


class TransferStalled(TransferError):
    """The download stalled: the catalog server stopped answering."""

    status = 504


class UnsafePath(CatalogError):
    """That path is not a safe path inside a catalog."""


# --- talking to services -----------------------------------------------------------


class ConnectionFailed(NatsterError):
    """Could not connect to the hub: check the URL and that the hub is running."""

    status = 503


class RequestTimeout(NatsterError):
    """The service did not answer in time."""

    status = 504


class ServiceUnavailable(NatsterError):
    """No service is answering on that subject (no responders)."""

    status = 503


class ProtocolError(NatsterError):
    """The other side sent an answer natster refuses (malformed or out of bounds)."""

    status = 502


class RemoteError(NatsterError):
    """A service refused the request."""

    def __init__(self, message: str | None = None, status: int = 500) -> None:
        super().__init__(message)
        self.status = status


class Refused(NatsterError):
    """That request is not valid."""

    def __init__(self, message: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


# --- the hub's store (JetStream key-value buckets and streams) ----------------------


class StoreError(NatsterError):
    """The hub's store failed."""

    status = 503


class KeyMissing(StoreError):
    """There is no such key in the hub's store."""

    def __init__(self, message: str | None = None, revision: int = 0) -> None:
        super().__init__(message)
        self.revision = revision  # a delete marker's, else 0


class WrongRevision(StoreError):
    """Someone else wrote that key first."""

    status = 409


class StoreMissing(StoreError):
    """That bucket or stream does not exist in the hub's store."""
