"""Every size, count and time limit natster enforces, in one place.

What is not a limit but the tuning of one mechanism stays beside its code: the receive
path's buffers (``_natsio``), flow control's slack and lateness checks
(``client._flow``, ``client.transfer``), certificate lifetimes (``hub.tls``), snapshot
chunks and their patience (``hub.cluster.snapshots``), file modes (``_fs``), format versions.
"""

from __future__ import annotations

from typing import NamedTuple


class Rate(NamedTuple):
    """A rate limit: this many per minute on average, after a first burst."""

    per_minute: int
    burst: int


# Requests to natster services
MAX_REQUEST_BYTES = 64 * 1024  # a control request; bigger is refused before parsing
REQUEST_TIMEOUT_S = 5.0  # how long a client waits for a service's answer
SERVICE_DEADLINE_S = 4.0  # the hub's services answer within this, if only 'try again'
# a call only a stream's leader answers is asked again after this: asked while a cluster
# elects one (4-9 s after a node dies) it goes unanswered, and the new leader would not
# be heard of for a whole default timeout (5 s: past the deadline above)
LEADER_TRY_S = 1.0
CONNECT_TIMEOUT_S = 5.0  # a hub not reached in this time is unreachable: one line, exit 1
JOIN_RETRY_S = 20.0  # `init` asks again this long while a hub elects a leader (4-9 s)
TLS_HANDSHAKE_S = 2.0  # nats-server waits this long for a client's TLS handshake
# A client silent this long after connecting is sent INFO in the clear and upgrades to TLS
# as NATS tools do by default (nats.go waits 2 s for it); natster's own clients start TLS
# at once, and ask again, this many times, if theirs came too late (a busy machine)
TLS_FIRST_WAIT_S = 1.0
TLS_LATE_TRIES = 3
RECONNECT_WAIT_S = 0.5  # between tries to reach the hub again
COMMAND_RECONNECT_ATTEMPTS = 30  # a command rides out a hub restart of ~15 s, then fails
DOWNLOAD_WAIT_S = 60.0  # ...a one-shot download, an outage this long (--wait)

# Names
MAX_ACCOUNT_NAME = 64
NAME_SUGGESTION_TRIES = 20  # names like a taken one looked at for a did-you-mean
# Leaving the hub: the proof a leaver signs is good this long (either side of the hub's
# clock); the leaver's connections are cut this long after the answer (so it arrives);
# an account with more shares than this unshares some first (the event carries them all)
LEAVE_PROOF_S = 300
LEAVE_CUT_OFF_S = 1.0
LEAVE_SHARES_MAX = 5000

# Invites
DEFAULT_INVITE_TTL_S = 24 * 3600
MAX_INVITE_TTL_S = 30 * 24 * 3600
MIN_INVITE_TTL_S = 60
DEVICE_CODE_TTL_S = 600  # `device add` waits this long for the new machine
DEVICE_SEEN_WAIT_S = 0.5  # `device ls` gathers the nodes' connection lists this long
MAX_NODE_TOKEN_TTL_S = 24 * 3600  # a node token carries the way to the hub's keys: short
MAX_INVITE_CHARS = 8192
# short invites (hub/entry/short_invites.py): words of the 2,048 of BIP-39 (11 bits each), and the
# start of the CA pin they carry (80 bits: forging a CA to match costs 2^80 hashes)
INVITE_WORDS = 4
SHORT_PIN_CHARS = 20
# the doorstep (hub/entry/doorstep.py) tells who holds a short invite's words: tries per
# address and for the whole hub (per node), each per minute with a burst; its guests
# live this long at most (they only ask natster.signup, once)
DOORSTEP_TRIES = Rate(per_minute=10, burst=5)
DOORSTEP_HUB = Rate(per_minute=120, burst=60)
DOORSTEP_GUEST_S = 600
# natster.signup, for the whole hub (per node): any invite's holder may ask it
SIGNUP_TRIES = Rate(per_minute=120, burst=60)

# The hub
HUB_READY_TIMEOUT_S = 10.0
HUB_STOP_TIMEOUT_S = 10.0
# a bucket call waits out a cluster's election this long: less than REQUEST_TIMEOUT_S, so
# the one who asked still hears 'try again' rather than nothing
STORE_RIDE_OUT_S = 3.0
# nats-server reserves each account's JetStream limits out of these: the platform
# accounts' reservations below must add up to no more (tests/test_hub.py checks).
HUB_JETSTREAM_MAX_MEM = 512 * 1024 * 1024
HUB_JETSTREAM_MAX_FILE = 64 * 1024 * 1024 * 1024
ACCOUNTS_JS_MEM = 32 * 1024 * 1024
ACCOUNTS_JS_DISK = 1024 * 1024 * 1024
GLOBAL_JS_MEM = 256 * 1024 * 1024
GLOBAL_JS_DISK = 32 * 1024 * 1024 * 1024
# the event log's own size (x3 replicas it fits in GLOBAL_JS_DISK, with the buckets);
# when full, new events are refused (discard new): the log is never cut short
EVENT_LOG_MAX_BYTES = 8 * 1024 * 1024 * 1024

# What one user account may use of the hub (its JWT's limits, enforced by nats-server).
# A user account only asks (the services, catalog servers): its largest message is a
# control request. Its catalog servers answer from its serving account, whose payload
# carries a chunk reply (4 MiB chunks) and which can reach no service (hub/accounts/serving.py).
ACCOUNT_CONNECTIONS = 64  # CLI commands, catalog servers, web UIs, devices at once
ACCOUNT_SUBSCRIPTIONS = 10_000  # a catalog server takes about 10 per catalog served
ACCOUNT_IMPORTS = 1_000  # the platform's 4, plus one per imported catalog
ACCOUNT_EXPORTS = 8  # none (a serving account has the catalog export)
ACCOUNT_PAYLOAD = MAX_REQUEST_BYTES + 4096  # a control request and its headers
SERVING_USER_TTL_S = 4 * 3600  # a catalog server's serving credentials last this long
SERVING_RENEW_RETRY_S = 30.0  # ...renewed half-way; tried again this often if the hub is away
SERVING_CUT_S = 2.0  # ...and at once when refused this long while the account's is connected
# Invite holders before they have an account: small requests only, a few at once.
SIGNUP_PAYLOAD = 16 * 1024
SIGNUP_CONNECTIONS = 64
SIGNUP_SUBSCRIPTIONS = 16
# What the global service lets one account do per minute (per instance; a burst first)
OTC_RATE = Rate(per_minute=30, burst=60)  # login codes
EVENTS_RATE = Rate(per_minute=60, burst=60)  # shares, unshares, imports

# Per user account JetStream allowance (the account itself uses none yet)
ACCOUNT_MEM_STORAGE = 0
ACCOUNT_DISK_STORAGE = 0

# Catalogs
MAX_CATALOG_NAME = 64
MAX_DESCRIPTION = 1024
MAX_TAG_CHARS = 200  # characters of a song's tag or a camera's name kept and sent
MAX_PATH_CHARS = 4096
HASH_BLOCK = 1024 * 1024  # bytes read per call while hashing
HASH_WORKERS = 2  # threads hashing large files (hashlib releases the GIL on big blocks)
HASH_LARGE_FILE = 4 * 1024 * 1024  # files this big go to the threads; smaller ones are
# hashed in batches on the scanning thread, where threads would only fight over the GIL
HASH_BATCH_FILES = 128  # small files hashed per task
HASH_BATCH_BYTES = 16 * 1024 * 1024  # ... up to this many bytes per task
PARALLEL_DIFF_MIN_ENTRIES = 20_000  # below this a rescan compares in one process
SNIFF_BYTES = 8192  # head of a file kept for MIME sniffing
WATCH_DEBOUNCE_MS = 300  # how long the watcher gathers changes before applying them

# The global service
PRESENCE_TTL_S = 15  # a catalog server not heard from for this long is offline
HEARTBEAT_INTERVAL_S = 5  # how often catalog servers heartbeat
MAX_OPEN_TRANSFERS_REPORTED = 1_000_000  # a heartbeat's count of a catalog's open transfers
PRESENCE_MARKER_TTL_S = 60  # how long an expiry marker stays (so watchers see it)
OTC_TTL_S = 300  # one-time codes live 5 minutes
WEB_SESSION_S = 7 * 24 * 3600  # a browser signed in with `natster login` stays so a week
WEB_PORT = 8080  # `natster web` listens here by default
WEB_SHUTDOWN_S = 2  # on Ctrl-C, open requests (event streams, videos) get this long
SSE_KEEPALIVE_S = 15.0  # a comment line on the event stream keeps proxies from closing it
OTC_LENGTH = 10  # characters of a one-time code (5 bits each: 50 bits)
SIGNIN_TTL_S = 300  # a browser's sign-in code works this long, once
SIGNIN_LENGTH = 8  # characters of a sign-in code (31 letters: 39.6 bits; taking is rate-limited)
# sign-in codes offered from one address (IPv6: a /64), by one sign-in page, and taken
# or granted, per account
SIGNIN_RATE = Rate(per_minute=60, burst=30)
SIGNIN_GUEST_RATE = Rate(per_minute=10, burst=10)
SIGNIN_TAKES = Rate(per_minute=30, burst=30)
GUESTS_RATE = Rate(per_minute=10, burst=10)  # sign-in pages the web app starts per address...
GUESTS_PER_ADDRESS = 8  # ...connected at once from one address (IPv6: a /64), one each
SIGNIN_CONNECTIONS = 1024  # sign-in pages connected at once, in all
BROWSER_EXPIRES_S = 24 * 3600  # `natster login CODE` signs a browser in for a day
PROJECTION_BATCH = 256  # events applied per batch (and the consumer's max ack pending)
READ_YOUR_WRITES_S = 2.0  # how long events.put waits for its projections to catch up
REBUILD_HEARTBEAT_S = 2.0  # a rebuild says it runs this often...
REBUILD_PAUSE_S = 10.0  # ...and the projectors hold off this long after it last said so
REBUILD_SETTLE_S = 1.0  # a rebuild waits this long for a batch in flight to land
REBUILD_READ_BATCH = 1000  # events read per fetch while replaying
REBUILD_WRITES = 500  # records written at once while replaying
DECIDE_CATCH_UP_S = 3.0  # a share decision waits this long for the projections to catch up
WATCH_HEARTBEAT_S = 1.0  # a mirror's bucket watch is made anew after two missed heartbeats
WATCH_INACTIVE_S = 300  # nats-server drops a watch nobody has followed for this long
MIRROR_READY_S = 30  # how long a starting global service waits for its buckets' values

# The catalog service
MIRROR_SETTLE_S = 1.0  # a mirror kept in sync waits this long for a burst of changes to end
MIRROR_RESYNC_S = 300.0  # ... and makes a pass at least this often, changes or not
PEOPLE_MAX = 100  # members in one answer of natster.global.people
CONTENTS_PAGE = 500  # entries per contents page by default
CONTENTS_PAGE_MAX = 2000  # ... at most (2000 entries stay well under 1 MiB)
SEARCH_WORDS = 8  # words a search matches at most (every one must be in a path or description)
SEARCH_ALL_PER_CATALOG = 50  # hits one catalog gives a search over everything
SEARCH_ALL_TIMEOUT_S = 3.0  # a search over everything waits this long for each catalog

# Media: facts and thumbnails, made on the owner's machine
THUMB_BOX = 320  # pixels a thumbnail's longer side has at most
THUMB_MAX_BYTES = 64 * 1024  # a thumbnail's JPEG (a peer's bigger one is refused)
THUMB_SOURCE_MAX = 16 * 1024 * 1024  # bytes of a frame ffmpeg hands over, at most
THUMBS_MAX_BYTES = 256 * 1024 * 1024  # the owner's thumbnail cache (least recently used go)
THUMB_TIMEOUT_S = 20.0  # ffmpeg's time for one frame (then: no thumbnail)
THUMB_WORKERS = 2  # threads making thumbnails and facts, at lowered priority
THUMBS_AT_ONCE = 8  # thumbnail requests a catalog server handles at once (others wait)
THUMB_REQUEST_TIMEOUT_S = 25.0  # a requester waits this long for one thumbnail
PROBE_TIMEOUT_S = 20.0  # ffmpeg's time to read one file's facts
MEDIA_NICE = 10  # how much lower the priority of thumbnail and facts work is
FACTS_BATCH = 64  # files whose facts are written to the index at once
SHARE_CACHE_REFRESH_S = 30  # the catalog server re-reads its shares this often
SHARE_RETRY_S = 1.0  # ...and this often while it cannot (others are refused meanwhile)

# Transfers
# A chunk is one NATS message. A transfer's chunks are CHUNK_SIZE bytes, and a request may
# ask for a span of up to MAX_SPAN of them as one message: fewer, larger messages cost
# every process on the path less CPU per byte (bench/transfer: 1 MiB ~270 MB/s, 4 MiB
# ~355 MB/s), smaller ones come sooner on a slow link. How large, and how many at once,
# follows the link as measured (client/_flow.py, docs/protocol.md). The hub allows 8 MiB
# messages; a span also leaves room for the seal and headers.
HUB_MAX_PAYLOAD = 8 * 1024 * 1024  # nats-server's max_payload on the hub (default 1 MiB)
# nats-server cuts a client off as a slow consumer when one write to it takes longer than
# this (its default, 10 s, is 12 MiB at 10 Mbit/s: a slow receiver's queued chunks did it)
HUB_WRITE_DEADLINE_S = 30.0
CHUNK_HEADROOM = 4096  # bytes of a message a chunk leaves to the seal and the headers
CHUNK_SIZE = 256 * 1024  # bytes per chunk of a transfer
MAX_SPAN = 16  # chunks one request may ask for at once (4 MiB)
MIN_CHUNK_SIZE = 64 * 1024
RECEIVE_BUDGET = 32 * 1024 * 1024  # chunk bytes asked for and not yet read, per connection
MAX_CHUNK_SIZE = HUB_MAX_PAYLOAD - CHUNK_HEADROOM  # also capped by the server's max_payload
# Flow control: about SPAN_TIME_S of data per request, and the measured rate times
# (round trip + 0.9 s) in flight, within these bounds
SPAN_TIME_S = 0.1
DOWNLOAD_FIRST_SPAN = 4  # a download's first requests (1 MiB), before the rate is known
DOWNLOAD_FIRST_SPANS = 4  # ...4 of them (100 Mbit/s x a 0.3 s round trip); a player's range: 2
STREAM_FIRST_SPAN = 1  # a player's range starts with one chunk: its first byte comes soon
DOWNLOAD_IN_FLIGHT = 32 * 1024 * 1024  # a download's bytes asked for and not received, at most
STREAM_IN_FLIGHT = 4 * 1024 * 1024  # ...a player's range's
# A player's range keeps R x (RTT + this) plus this many spans in flight (a download:
# R x (RTT + 0.9 s)): what it no longer wants is what a seek waits behind
STREAM_SLACK_S = 0.2
STREAM_SLACK_SPANS = 2
RATE_HORIZON_S = 2.0  # the delivery rate is measured over this much of the recent past
CHUNKS_AT_ONCE = 16  # chunk requests a catalog server reads and seals concurrently
TRANSFER_IDLE_S = 30  # the server frees a transfer nobody asked a chunk of for this long
TRANSFER_REUSE_S = 5.0  # natster web keeps a file's transfer open this long for its next range
METRICS_EVERY_S = 5.0  # `hub up --metrics-port` reads the hub's numbers this often
METRICS_PING_S = 1.0  # ...and waits this long for each service to answer its health ping
SERVE_ALL_RECHECK_S = 5.0  # `natster serve` reads the list of my catalogs again this often
MAX_TRANSFERS_PER_ACCOUNT = 32  # more at once from one account: "busy"
# A transfer that received nothing for STALL_S has stalled: its requests are asked again
# (CHUNK_RETRIES times, then the download fails as stalled). A request merely queued behind
# others is never asked again: it has STALL_S more than the bytes ahead of it need.
STALL_S = 10.0
CHUNK_RETRIES = 3
# ...but a transfer that went quiet for QUIET_TIMES what its bytes in flight should take
# (and QUIET_MIN_S at least) sends one request again as a probe, costing no try; once it
# is answered, what was asked before it and is still out was lost with the owner's
# connection (a cluster node died) and is asked again (client/_flow.py)
QUIET_MIN_S = 2.0
QUIET_TIMES = 4.0
# nats-server keeps a reply mapping for each catalog request until its one reply (the
# export's response type is Singleton); one never answered is dropped after this long,
# longer than any client waits for a catalog server's answer
CATALOG_RESPONSE_THRESHOLD_S = 15.0
ACCESS_CHECK_WAITS = 30  # seconds a download waits for a server re-reading its shares

# Waiting on the hub and on peers
RESOLVER_TIMEOUT_S = 2.0  # nats-server's answer to an account JWT lookup or update
SUMMARY_TIMEOUT_S = 2.0  # a catalog server's summary, for the web UI's library
FEED_RETRY_S = 1.0  # a catalog server re-subscribes to its live feed this often when lost
HEARTBEAT_CAS_TRIES = 5  # compare-and-set tries against concurrent heartbeats of one key
PROJECTION_ACK_WAIT_S = 5  # a batch not acknowledged in this time goes to another instance
PROJECTION_RIDE_OUT_S = 10  # a consumer failing longer is stuck (elections take 4-9 s)
PROJECTION_CAS_TRIES = 5  # a batch is applied again this often when another instance wrote first
# (a batch takes well under a second; one held by a node that died comes back this soon)
SQLITE_BUSY_S = 10  # how long a catalog index waits for another writer

# What one process remembers or buffers
RATE_TRACKED = 10_000  # accounts a rate limit remembers (the least recent are forgotten)
RANGE_HEADER_MAX = 128  # characters of an HTTP Range header the web UI reads
WEB_THUMBS_BYTES = 32 * 1024 * 1024  # thumbnails natster web keeps opened, in memory
WEB_EVENTS_QUEUE = 256  # live events a slow page may lag behind before it is told to reload

# Direct transfers (services/direct): a catalog server's own endpoint on its addresses
DIRECT_TICKET_S = 10.0  # a ticket is redeemed within this, or never
DIRECT_TICKETS_MAX = 1000  # issued and not yet redeemed, at once
DIRECT_USER_S = 6 * 3600  # an admitted connection's JWT: a long film, then it must ask again
DIRECT_CONNECT_S = 0.5  # a receiver tries the candidates this long, then the hub
DIRECT_ASK_S = 2.0  # transfer-direct: answered within this, or the hub carries the bytes
