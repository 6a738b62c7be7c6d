"""A sandbox's state on disk, so `make run` can stop and start without the stores a
seller made with "Try a sandbox store" forgetting their orders and credentials (issue 18;
docs/architecture.md "Sandboxes"). The Shopify sandbox keeps each shop in a SQLite file;
the WooCommerce and Etsy sandboxes keep theirs in memory and write a JSON snapshot here
after every request that may have changed it.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def write_json(path: Path, data) -> None:
    """Replace the file whole (a crash mid-write leaves the previous snapshot)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path):
    """The snapshot, or None when there is none yet."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def int_keys(mapping: dict) -> dict:
    """JSON object keys are strings; the sandboxes key their rows by integer id."""
    return {int(k): v for k, v in mapping.items()}


def next_ids(obj, names) -> dict[str, int]:
    """The next value of each of `obj`'s itertools.count attributes (read without using
    it up: the counter is made again from that value)."""
    ids = {}
    for name in names:
        ids[name] = next(getattr(obj, name))
        setattr(obj, name, itertools.count(ids[name]))
    return ids


def restore_ids(obj, names, saved: dict) -> None:
    for name, value in (saved or {}).items():
        if name in names:
            setattr(obj, name, itertools.count(int(value)))


def saving(app, save: Callable[[dict], None]):
    """WSGI middleware: after a request that may change state, `save(environ)`. The
    sandboxes' apps answer with a list, so the request is done when `app` returns."""

    def wrapped(environ, start_response):
        body = app(environ, start_response)
        if environ.get("REQUEST_METHOD", "GET") not in SAFE_METHODS:
            try:
                save(environ)
            except Exception:  # the answer stands; the sandbox's log says why not saved
                log.exception("sandbox state not saved")
        return body

    return wrapped
