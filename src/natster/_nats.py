"""The one place natster opens NATS connections and makes requests.

nats-py's exceptions are mapped to natster's here, at the boundary (:func:`mapped`,
as httpx maps httpcore's), so every layer above sees :mod:`natster.errors` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import ssl
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypedDict, TypeVar, Unpack
from urllib.parse import urlsplit

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client, RawCredentials
from nats.js.client import JetStreamContext

from natster import _natsio, limits, subjects, wire
from natster._tls import Trust
from natster._urls import split_urls
from natster.errors import (
    ConnectionFailed,
    CredentialsRefused,
    KeyMissing,
    NotPermitted,
    RequestTimeout,
    ServiceUnavailable,
    StoreError,
    StoreMissing,
    UntrustedHub,
    WrongRevision,
)
from natster.security import Creds

log = logging.getLogger(__name__)

__all__ = ["Client", "Login", "Trust", "connect", "mapped", "request", "request_raw"]


@dataclasses.dataclass(frozen=True)
class Login:
    """A user name and password in place of creds: how a short invite's holder knocks
    at the hub's doorstep (hub/entry/doorstep.py), which answers for the server."""

    user: str
    password: str = dataclasses.field(repr=False)


# JetStream's error codes for "wrong last sequence" (a KV delete or create reports these
# as a plain BadRequestError, not as nats-py's KeyWrongLastSequenceError)
T = TypeVar("T")
JS_WRONG_LAST_SEQUENCE = (10071, 10164)
JS_NO_PEERS = 10005  # no suitable peers for placement: too few nodes up for the replicas
LOST = "the connection to the hub was lost (reconnecting)"


@contextlib.contextmanager
def mapped(what: str = "the hub", lost: str = LOST) -> Iterator[None]:
    """Raise natster's error for any nats-py error raised inside: ``what`` names who was
    asked, ``lost`` is what a dropped connection means to the caller."""
    try:
        yield
    except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError) as exc:
        marker = getattr(exc, "entry", None)  # a delete marker: its revision comes next
        revision = marker.revision if marker is not None and marker.revision else 0
        raise KeyMissing(revision=revision) from exc
    except nats.js.errors.NoKeysError as exc:
        raise KeyMissing("the bucket is empty") from exc
    except nats.js.errors.KeyWrongLastSequenceError as exc:
        raise WrongRevision from exc
    except (
        nats.js.errors.NoStreamResponseError,  # a stream without a leader
        nats.js.errors.ServiceUnavailableError,  # JetStream's API: no leader (nobody / 503)
    ) as exc:
        raise ServiceUnavailable(
            f"{what} is not answering: the hub may be electing a new leader after losing "
            "a node; try again in a few seconds"
        ) from exc
    except nats.js.errors.NotFoundError as exc:  # a bucket, stream or consumer
        raise StoreMissing(f"{what}: {exc.description or exc}") from exc
    except nats.js.errors.APIError as exc:
        if exc.err_code in JS_WRONG_LAST_SEQUENCE:
            raise WrongRevision from exc
        if exc.err_code == JS_NO_PEERS:
            raise ServiceUnavailable(
                f"{what}: too few of the hub's nodes are up to keep every copy"
            ) from exc
        raise StoreError(f"the hub's store refused: {exc.description or exc}") from exc
    except nats.errors.NoRespondersError as exc:
        raise ServiceUnavailable(f"{what} is not answering (no responders)") from exc
    except (nats.errors.TimeoutError, TimeoutError) as exc:
        raise RequestTimeout(f"{what} did not answer in time") from exc
    except (
        nats.errors.ConnectionClosedError,
        nats.errors.ConnectionDrainingError,
        nats.errors.ConnectionReconnectingError,
        nats.errors.StaleConnectionError,
        nats.errors.OutboundBufferLimitError,
    ) as exc:
        raise ConnectionFailed(lost) from exc
    except nats.errors.Error as exc:  # anything else nats-py raises is still a failed call
        raise ConnectionFailed(f"the request to {what} failed: {exc}") from exc


# nats-server's words (nats-py lower-cases them) when a publish is not allowed
_DENIED = re.compile(r'permissions violation for publish to "([^"]+)"')


class _Denials:
    """Publishes nats-server refused on one connection, told to the requests waiting on
    them: a request to a subject its JWT denies fails at once, not after its timeout."""

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Future[None]]] = {}

    def watch(self, subject: str) -> asyncio.Future[None]:
        future = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(subject.lower(), set()).add(future)
        return future

    def unwatch(self, subject: str, future: asyncio.Future[None]) -> None:
        waiting = self._waiting.get(subject.lower(), set())
        waiting.discard(future)
        if not waiting:
            self._waiting.pop(subject.lower(), None)

    def refused(self, subject: str) -> None:
        for future in self._waiting.get(subject.lower(), set()):
            if not future.done():
                future.set_result(None)


_DENIALS: weakref.WeakKeyDictionary[Client, _Denials] = weakref.WeakKeyDictionary()


async def connect(
    url: str,
    creds: Creds | Login,
    *,
    name: str,
    trust: Trust | None = None,
    reconnect: bool = False,
    inbox_prefix: str | None = None,
    timeout: float = limits.CONNECT_TIMEOUT_S,
    patient: bool = False,
) -> Client:
    """Connect with in-memory ``creds`` (nothing is written to disk), within ``timeout``.

    A ``tls://`` URL starts TLS first and believes ``trust`` (default: this system's
    roots); a ``nats://`` URL is plain TCP, which a hub offers only when its operator
    asked for it, and which a connection with a ``trust`` refuses.

    One-shot commands pass ``reconnect=False`` and fail fast; long-running services
    pass ``reconnect=True``, ride out a server restart, and log that they are
    reconnecting; a ``patient`` one-shot command (a download) tries to reach the hub
    again for as long as it chooses to wait (it bounds that by time, and closes the
    connection). Either way the first connection fails within the deadline: nats-py
    alone would retry a refused connection forever (it gives up on a server only when
    ``max_reconnect_attempts`` is positive).
    """
    servers = split_urls(url)
    options: dict[str, Any] = {
        "servers": servers,
        "name": name,
        "connect_timeout": max(1, int(timeout)),
        "allow_reconnect": reconnect,
        "max_reconnect_attempts": -1 if reconnect else 1,
        "reconnect_time_wait": limits.RECONNECT_WAIT_S,
    }
    if isinstance(creds, Login):
        options.update(user=creds.user, password=creds.password)
    else:
        options["user_credentials"] = RawCredentials(creds.format())
    scheme = urlsplit(servers[0]).scheme
    if scheme in ("tls", "wss"):
        trust = trust or Trust()
        options["tls"] = trust.context()
        options["tls_handshake_first"] = scheme == "tls"
        if trust.hostname:
            options["tls_hostname"] = trust.hostname
    elif trust is not None:
        raise ConnectionFailed(f"natster reaches this hub over TLS only, not at {url}")
    if not inbox_prefix and isinstance(creds, Creds):  # a user reads its own inbox only
        inbox_prefix = subjects.inbox_of(creds.public_key)
    if inbox_prefix:
        options["inbox_prefix"] = inbox_prefix
    tries = limits.TLS_LATE_TRIES if options.get("tls_handshake_first") else 1
    for attempt in range(1, tries + 1):
        seen: list[Exception] = []
        client = _client(options, seen, url, reconnect=reconnect)
        try:
            async with asyncio.timeout(timeout + limits.RECONNECT_WAIT_S * 2):
                await client.connect(**options)
        except (OSError, TimeoutError, nats.errors.Error) as exc:
            if attempt < tries and _tls_came_late(exc, seen):
                log.debug("our TLS handshake came after the hub's INFO: asking again")
                continue
            error, cause = _refusal(exc, seen, url)
            raise error from cause
        break
    if not reconnect:  # connected: now ride out a brief drop (a hub restart) mid-command
        client.options["allow_reconnect"] = True
        client.options["max_reconnect_attempts"] = (
            -1 if patient else limits.COMMAND_RECONNECT_ATTEMPTS
        )
    return client


def _client(options: dict[str, Any], seen: list[Exception], url: str, *, reconnect: bool) -> Client:
    """A nats-py client, not yet connected, whose errors land in ``seen`` (the last 3)."""
    client = Client()
    denials = _DENIALS.setdefault(client, _Denials())

    async def record(exc: Exception) -> None:
        seen.append(exc)
        del seen[:-3]
        log.debug("nats: %s", exc)
        denied = _DENIED.search(str(exc))
        if denied:
            denials.refused(denied.group(1))

    options["error_cb"] = record
    if reconnect:
        options["disconnected_cb"] = _say(client, f"lost the hub at {url}: reconnecting")
        options["reconnected_cb"] = _say(client, f"reconnected to the hub at {url}")
    if urlsplit(options["servers"][0]).scheme in ("nats", "tls"):  # websockets keep nats-py's
        _natsio.tune(client)
    return client


def _tls_came_late(exc: Exception, seen: list[Exception]) -> bool:
    """Our TLS handshake began after the hub had sent INFO in the clear (it waits
    ``limits.TLS_FIRST_WAIT_S`` for one, then serves tools that read INFO first): that
    INFO reads as a broken TLS record. Nothing was sent in the clear; ask again."""
    return any(
        isinstance(e, ssl.SSLError) and e.reason == "WRONG_VERSION_NUMBER" for e in (*seen, exc)
    )


def _refusal(exc: Exception, seen: list[Exception], url: str) -> tuple[Exception, Exception]:
    """natster's error for a failed first connection (and the exception it comes from)."""
    scheme = urlsplit(split_urls(url)[0]).scheme
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _untrusted(url, exc), exc
    if isinstance(exc, (nats.errors.NoServersError, TimeoutError)):
        untrusted = [e for e in seen if isinstance(e, ssl.SSLCertVerificationError)]
        if untrusted:
            return _untrusted(url, untrusted[-1]), untrusted[-1]
        if any(isinstance(e, ssl.SSLError) for e in seen):
            return ConnectionFailed(f"no TLS with the hub at {url}: {seen[-1]}"), exc
        return ConnectionFailed(f"cannot reach the hub at {url}: is it running?"), exc
    if isinstance(exc, OSError):
        return ConnectionFailed(f"cannot reach the hub at {url}: {exc.strerror or exc}"), exc
    text = str(exc).lower()
    if scheme == "nats" and "empty response" in text:
        return ConnectionFailed(
            f"the hub at {url} does not answer plain NATS: it may require TLS now; "
            "join it again with a new invite (natster init, in a new NATSTER_HOME)"
        ), exc
    if "authorization" in text or "authentication" in text or "expired" in text:
        return CredentialsRefused(
            f"the hub at {url} refused these credentials (they may have expired)"
        ), exc
    return ConnectionFailed(f"could not connect to {url}: {exc}"), exc


def _untrusted(url: str, exc: ssl.SSLCertVerificationError) -> UntrustedHub:
    return UntrustedHub(
        f"the hub at {url} presented a certificate natster does not trust "
        f"({exc.verify_message}): someone may be in between; nothing was sent"
    )


def _say(client: Client, message: str) -> Callable[[], Awaitable[None]]:
    """A warning for a connection's state change; nats-py also calls "disconnected" when
    we close the connection ourselves, which is not news."""

    async def callback() -> None:
        if not client.is_closed:
            log.warning("%s", message)

    return callback


async def asking_again(
    call: Callable[[], Awaitable[T]],
    *,
    within: float,
    transient: Callable[[Exception], bool],
    pause: float = 0.25,
) -> T:
    """``call()``, asked again after ``pause`` while what it raises is ``transient``, until
    ``within`` seconds have passed; then that error is raised."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            return await call()
        except Exception as exc:
            stop_if_cancelled()
            if not transient(exc) or loop.time() >= deadline:
                raise
        await asyncio.sleep(pause)


def slow_or_leaderless(exc: Exception) -> bool:
    """The hub answered late or had nobody to answer: worth asking again."""
    return isinstance(exc, (RequestTimeout, ServiceUnavailable))


async def from_leader(call: Callable[[], Awaitable[T]]) -> T:
    """``call()``, a request only a stream's leader answers (made on a JetStream context
    whose timeout is ``limits.LEADER_TRY_S``), asked again while there is none, within a
    service's deadline: it lands as soon as an election ends."""
    return await asking_again(call, within=limits.SERVICE_DEADLINE_S, transient=slow_or_leaderless)


async def forming(make: Callable[[], Awaitable[T]]) -> T:
    """``make()``, retried while a cluster is forming: it answers slowly for a while, and a
    node that just joined is not yet a place for a replica."""
    return await asking_again(
        make, within=limits.HUB_READY_TIMEOUT_S * 3, transient=slow_or_leaderless
    )


async def ensure_replicas(
    js: JetStreamContext, stream: str, replicas: int, *, direct: bool = False
) -> bool:
    """Give ``stream`` at least ``replicas`` copies (nats-server copies what it holds to
    the new replicas; nothing is lost, writes go on) and, with ``direct``, reads from any
    of them; returns whether the stream had to change."""
    if replicas <= 1:  # every stream has one copy at least: nothing to ask
        return False
    changed = False
    with mapped():
        info = await js.stream_info(stream)
        old = info.config
        if (old.num_replicas or 1) < replicas or (direct and not old.allow_direct):
            new = dataclasses.replace(
                old,
                num_replicas=max(replicas, old.num_replicas or 1),
                allow_direct=old.allow_direct or direct,
            )
            log.info(
                "%s: %d replicas -> %d, direct reads: %s",
                stream,
                old.num_replicas or 1,
                new.num_replicas,
                new.allow_direct,
            )
            await js.update_stream(new)
            changed = True
    await _wait_for_leader(js, stream)
    return changed


async def _wait_for_leader(js: JetStreamContext, stream: str) -> None:
    """A replicated stream takes writes once its replicas elected a leader."""
    for _ in range(int(limits.HUB_READY_TIMEOUT_S / 0.1)):
        with mapped():
            info = await js.stream_info(stream)
        if info.cluster is None or info.cluster.leader:
            return
        stop_if_cancelled()
        await asyncio.sleep(0.1)
    raise StoreError(f"{stream} has no leader: are most of the hub's nodes up?")


def stop_if_cancelled() -> None:
    """Raise the cancellation (Ctrl-C, a stop) that nats-py's request may have swallowed.

    On Python 3.11, ``asyncio.wait_for`` returns the result instead of raising when a
    cancel races the reply (CPython gh-86296), and nats-py's requests wait with it. The
    task still counts the cancel: a loop of requests honours it here, or it would go on
    (a founding node waiting for its peers never stopped, once, when told to).
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def wait_for_jetstream(client: Client, waiting: str, *, say_every: float = 30.0) -> None:
    """Wait until JetStream answers: in a cluster it needs most of its nodes up (a node
    started alone waits for the others). ``waiting`` is said at once (what it waits for
    and what to do), and again every ``say_every`` seconds; the library's own words are
    for the debug log."""
    js = client.jetstream(timeout=2)
    loop = asyncio.get_running_loop()
    said: float | None = None
    while True:
        try:  # a stream's info comes from the cluster's metadata leader, once there is one
            await js.stream_info("natster-probe")
        except nats.js.errors.NotFoundError:
            if said is not None:
                log.warning("the cluster's JetStream answers: going on")
            return
        except (nats.errors.Error, TimeoutError) as exc:
            stop_if_cancelled()
            log.debug("JetStream does not answer yet: %r", exc)
            if said is None or loop.time() - said >= say_every:
                log.warning("%s", waiting)
                said = loop.time()
            await asyncio.sleep(0.25)


async def request_raw(
    client: Client,
    subject: str,
    payload: bytes,
    *,
    timeout: float = limits.REQUEST_TIMEOUT_S,
    what: str = "the service",
    lost: str = LOST,
) -> bytes:
    """Send a request and return the reply's payload as it came (a chunk, or an envelope).
    ``lost`` is what a dropped connection says."""
    denials = _DENIALS.get(client)
    refused = denials.watch(subject) if denials is not None else asyncio.Future[None]()
    asking = asyncio.ensure_future(client.request(subject, payload, timeout=timeout))
    try:
        with mapped(what, lost):
            try:
                either: set[asyncio.Future[Any]] = {asking, refused}
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
                if not asking.done():  # the server said no: no answer will ever come
                    raise NotPermitted(f"the hub does not let this connection ask {what}")
                reply = asking.result()
            except (nats.errors.TimeoutError, TimeoutError) as exc:
                raise RequestTimeout(f"{what} did not answer within {timeout:g} s") from exc
    finally:
        if denials is not None:
            denials.unwatch(subject, refused)
        if not asking.done():
            asking.cancel()
            await asyncio.gather(asking, return_exceptions=True)
    data: bytes = reply.data
    return data


async def tell(client: Client, subject: str, payload: bytes, *, what: str = "the hub") -> None:
    """Send a message that needs no answer (nothing waits for one: no round trip)."""
    with mapped(what):
        await client.publish(subject, payload)


class RequestOptions(TypedDict, total=False):
    timeout: float  # seconds to wait for the reply
    what: str  # who is asked, in an error's words
    lost: str  # what a dropped connection means to the caller


async def request(
    client: Client, subject: str, payload: bytes, **options: Unpack[RequestOptions]
) -> Any:
    """Send a request and return the ``data`` of its envelope (see :mod:`natster.wire`)."""
    return wire.unwrap(await request_raw(client, subject, payload, **options))
