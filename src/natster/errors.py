"""Every error natster raises on purpose.

Each class's docstring is the message a user sees when nothing more specific is
known; a raise site may pass a more precise message. The CLI prints ``str(error)``
on one line and exits 1, so messages are written for people: what went wrong and,
where there is one, what to do about it.
"""

from __future__ import annotations


class NatsterError(Exception):
    """Something went wrong in natster."""

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


class InvalidKey(SecurityError):
    """That is not a valid key."""


class JwtError(SecurityError):
    """That JWT is malformed, expired, or not signed by who it claims."""


class CredsError(SecurityError):
    """That credentials file is malformed."""


class CryptoError(SecurityError):
    """A sealed message could not be opened: it was damaged, tampered with, or not for us."""


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


# --- catalogs -----------------------------------------------------------------------


class CatalogError(NatsterError):
    """Something is wrong with that catalog."""


class InvalidCatalogName(CatalogError):
    """A catalog name is 1 to 64 characters of lowercase letters, digits, '-' and '_'."""


class CatalogExists(CatalogError):
    """A catalog with that name already exists."""


class CatalogNotFound(CatalogError):
    """There is no catalog with that name: see `natster catalog local`."""


class EntryNotFound(CatalogError):
    """No file in that catalog has that path or hash."""


class CatalogOffline(CatalogError):
    """That catalog is offline: its owner is not serving it right now."""


class NotShared(CatalogError):
    """That catalog is not shared with you (or no longer)."""


class TransferError(CatalogError):
    """The download failed."""


class IntegrityError(TransferError):
    """The downloaded file does not match the catalog's hash: nothing was kept."""


class TransferStalled(TransferError):
    """The download stalled: the catalog server stopped answering."""


class UnsafePath(CatalogError):
    """That path is not a safe path inside a catalog."""


# --- talking to services -----------------------------------------------------------


class ConnectionFailed(NatsterError):
    """Could not connect to the hub: check the URL and that the hub is running."""


class RequestTimeout(NatsterError):
    """The service did not answer in time."""


class ServiceUnavailable(NatsterError):
    """No service is answering on that subject (no responders)."""


class ProtocolError(NatsterError):
    """The other side sent an answer natster refuses (malformed or out of bounds)."""


class RemoteError(NatsterError):
    """A service refused the request."""

    def __init__(self, message: str | None = None, code: int = 500) -> None:
        super().__init__(message)
        self.code = code
