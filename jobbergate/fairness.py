"""Fair shares of the costly requests: one caller may run only so many at once, across every server process.

Rendering a job script (up to ``RENDER_TIMEOUT_SECONDS`` of a render worker) and reading an uploaded application folder
(up to ``APPLICATION_MAX_BYTES`` decompressed) are the requests that cost the server the most. Each caller gets
``HEAVY_REQUESTS_PER_USER`` slots for them; a request that finds all of its caller's slots taken is refused at once (the
API answers 429, the portal says so), so one user sending many in parallel waits for their own work and never queues
ahead of everyone else's.

A slot is an exclusive ``flock`` on a small file under ``LOCK_DIR`` (``VAR_DIR/locks``) named by a hash of the caller:
it works across server workers and threads on one host, with SQLite and PostgreSQL alike, and the kernel releases it
when the request ends or its process dies, so a crash never leaves a slot taken.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from jobbergate.errors import Busy
from jobbergate.principal import Principal


def _caller_key(principal: Principal) -> str:
    identity = principal.email or f"cluster:{principal.client_id}"
    return hashlib.sha256(identity.lower().encode()).hexdigest()[:32]


@contextlib.contextmanager
def heavy_request(principal: Principal, *, what: str) -> Iterator[None]:
    """Hold one of the caller's slots for a costly request, or raise Busy (the API's 429) when they are all taken."""
    folder = Path(settings.LOCK_DIR)
    key = _caller_key(principal)
    for slot in range(settings.HEAVY_REQUESTS_PER_USER):
        descriptor = _open_slot(folder, f"{key}.{slot}")
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            continue
        try:
            yield
        finally:
            os.close(descriptor)  # closing releases the lock
        return
    raise Busy(
        f"You already have {settings.HEAVY_REQUESTS_PER_USER} request(s) of this kind running ({what}); "
        "send the next one when it has ended."
    )


def _open_slot(folder: Path, name: str) -> int:
    """The slot's file, opened (made if new); its folder is made when missing, not asked after on every request."""
    try:
        return os.open(folder / name, os.O_RDWR | os.O_CREAT, 0o600)
    except FileNotFoundError:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return os.open(folder / name, os.O_RDWR | os.O_CREAT, 0o600)
