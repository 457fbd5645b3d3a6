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

    def __init_subclass__(cls, status: int | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status

    def __init__(self, message: str | None = None, status: int | None = None) -> None:
        doc = (type(self).__doc__ or "").strip()
        super().__init__(message or doc)
        if status is not None:  # this one error's status, else its class's
            self.status = status

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


class SecurityError(NatsterError, status=400):
    """A key, signature or token is not valid."""


class InvalidKey(SecurityError):
    """That is not a valid key."""


class JwtError(SecurityError):
    """That JWT is malformed, expired, or not signed by who it claims."""


class CredsError(SecurityError, status=500):
    """That credentials file is malformed."""


class CryptoError(SecurityError, status=502):
    """A sealed message could not be opened: it was damaged, tampered with, or not for us."""


class UntrustedHub(SecurityError, status=502):
    """The hub presented a certificate natster does not trust: someone may be in between."""


# --- the hub -----------------------------------------------------------------------


class NotPermitted(SecurityError, status=403):
    """The hub does not let this connection do that."""


class ReadOnlyDevice(SecurityError, status=403):
    """This device is read-only: do it from a signed-in machine."""


class HubError(NatsterError):
    """The hub failed."""


class NatsServerNotFound(HubError):
    """No nats-server binary found."""


class HubNotRunning(HubError):
    """The hub is not running: start it with `natster hub up --dir DIR`."""


class HubAlreadyRunning(HubError):
    """A hub is already running from that directory."""


class InviteError(NatsterError, status=403):
    """That invite is not valid: ask the hub's owner for a new one."""


# --- catalogs -----------------------------------------------------------------------


class CatalogError(NatsterError, status=400):
    """Something is wrong with that catalog."""


class InvalidCatalogName(CatalogError):
    """A catalog name is 1 to 64 characters of lowercase letters, digits, '-' and '_'."""


class CatalogExists(CatalogError, status=409):
    """A catalog with that name already exists."""


class CatalogNotFound(CatalogError, status=404):
    """There is no catalog with that name: see `natster catalog local`."""


class EntryNotFound(CatalogError, status=404):
    """No file in that catalog has that path or hash."""


class CatalogOffline(CatalogError, status=503):
    """That catalog is offline: its owner is not serving it right now."""


class NotShared(CatalogError, status=403):
    """That catalog is not shared with you (or no longer)."""


class TransferError(CatalogError, status=502):
    """The download failed."""


class TargetExists(CatalogError, status=409):
    """A different file is already where the download would go: nothing was changed."""


class IntegrityError(TransferError):
    """The downloaded file does not match the catalog's hash: nothing was kept."""


class TransferStalled(TransferError, status=504):
    """The download stalled: the catalog server stopped answering."""


class UnsafePath(CatalogError):
    """That path is not a safe path inside a catalog."""


# --- people ----------------------------------------------------------------------------


class UnknownPerson(NatsterError, status=404):
    """Nobody on this hub has that name: see `natster people`."""


class AmbiguousPerson(NatsterError, status=409):
    """Several members of this hub have that name: use the account key."""


# --- talking to services -----------------------------------------------------------


class ConnectionFailed(NatsterError, status=503):
    """Could not connect to the hub: check the URL and that the hub is running."""


class CredentialsRefused(ConnectionFailed, status=401):
    """The hub refused these credentials: expired, revoked or not of this hub."""


class RequestTimeout(NatsterError, status=504):
    """The service did not answer in time."""


class ServiceUnavailable(NatsterError, status=503):
    """No service is answering on that subject (no responders)."""


class ProtocolError(NatsterError, status=502):
    """The other side sent an answer natster refuses (malformed or out of bounds)."""


class RemoteError(NatsterError, status=500):
    """A service refused the request."""


class Refused(NatsterError, status=400):
    """That request is not valid."""


# --- the hub's store (JetStream key-value buckets and streams) ----------------------


class StoreError(NatsterError, status=503):
    """The hub's store failed."""


class KeyMissing(StoreError):
    """There is no such key in the hub's store."""

    def __init__(self, message: str | None = None, revision: int = 0) -> None:
        super().__init__(message)
        self.revision = revision  # a delete marker's, else 0


class WrongRevision(StoreError, status=409):
    """Someone else wrote that key first."""


class StoreMissing(StoreError):
    """That bucket or stream does not exist in the hub's store."""
