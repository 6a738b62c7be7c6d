"""Shopify bulk operations, as PodHub reads them: the operation's state, and its JSONL file
streamed and joined back into order nodes.

Protocol (shopify.dev):
* "Perform bulk operations with the GraphQL Admin API",
  https://shopify.dev/docs/api/usage/bulk-operations/queries — `bulkOperationRunQuery`
  runs one query in the background (one bulk query at a time per shop before API 2026-01;
  a second one is refused with a userError), the result is a JSONL file at `url`; each
  node of a nested connection is a line of its own with `__parentId`, the id of its parent.
  Example lines from the guide:
  `{"id":"gid://shopify/Product/1921569226808"}` then
  `{"id":"gid://shopify/ProductVariant/19435458986040","title":"70",
  "__parentId":"gid://shopify/Product/1921569226808"}`.
* mutations/bulkOperationRunQuery (2025-10): `groupObjects` (default true in 2025-10) puts
  each parent's children directly below it — which lets PodHub read one order at a time.
* objects/BulkOperation: status (CREATED, RUNNING, COMPLETED, CANCELING, CANCELED, FAILED,
  EXPIRED: enums/BulkOperationStatus), errorCode (ACCESS_DENIED, INTERNAL_SERVER_ERROR,
  TIMEOUT: enums/BulkOperationErrorCode), objectCount, rootObjectCount, url, partialDataUrl
  (both expire 7 days after the operation ends); read with `node(id:)` or
  `currentBulkOperation`.
* Webhook topic `bulk_operations/finish` (changelog "New webhook topic notifies when a Bulk
  Operation has finished", 2021-10): the body names the operation
  (`admin_graphql_api_id`), `status`, `error_code`, `created_at`, `completed_at`, `type`.

Memory: the file is read in chunks; only the order being assembled (one order and its
lines) is held. Each order carries the byte offset just past its last line, which the
import saves as its position.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import httpx

from integrations.shopify.client import ShopifyUnavailable
from podhub.core import outbound

RUNNING = frozenset({"CREATED", "RUNNING", "CANCELING"})
# a failed operation worth starting again (Shopify's side, not PodHub's access)
RETRYABLE_CODES = frozenset({"TIMEOUT", "INTERNAL_SERVER_ERROR", ""})
READ_CHUNK = 256 * 1024
# a JSONL line longer than this is not an order PodHub can read (one order with 250 lines
# is about 400 KB)
MAX_LINE_BYTES = 8 * 1024 * 1024
_ORDER_GID = re.compile(r"gid://shopify/Order/\d+")


@dataclass(frozen=True)
class BulkState:
    id: str
    status: str
    error_code: str = ""
    objects: int = 0
    url: str = ""
    partial_url: str = ""
    query: str = ""

    @classmethod
    def of(cls, node: dict | None) -> BulkState | None:
        if not node or not node.get("id"):
            return None
        try:
            objects = int(node.get("objectCount") or 0)
        except (TypeError, ValueError):
            objects = 0
        return cls(id=str(node["id"]), status=str(node.get("status") or "").upper(),
                   error_code=str(node.get("errorCode") or "").upper(), objects=objects,
                   url=str(node.get("url") or ""), partial_url=str(node.get("partialDataUrl")
                                                                 or ""),
                   query=str(node.get("query") or ""))

    @property
    def running(self) -> bool:
        return self.status in RUNNING

    def reason(self) -> str:
        code = f" ({self.error_code})" if self.error_code else ""
        return f"Shopify's bulk operation {self.id} ended {self.status}{code}"


@dataclass
class BulkOrder:
    """One order assembled from the file (`node`, its lines under lineItems.nodes), or a
    line PodHub could not read (`problem`, with `text` and `order_ids`: the orders the
    broken line names, to read again one by one). `end`: the byte just past it."""

    end: int
    node: dict | None = None
    problem: str = ""
    line: int = 0
    text: str = ""
    order_ids: list[str] = field(default_factory=list)
    incomplete: bool = False  # a line near it could not be read: read this order again
    orphan: bool = False  # a line item whose order line was not the one before it


def same_query(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def _lines(chunks: Iterable[bytes], start: int) -> Iterator[tuple[int, int, bytes]]:
    """(offset of the line, offset past it, the line without its newline)."""
    buf = b""
    pos = start
    for chunk in chunks:
        buf += chunk
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                if len(buf) > MAX_LINE_BYTES:
                    raise ValueError(f"a line at byte {pos} is longer than "
                                     f"{MAX_LINE_BYTES} bytes")
                break
            line, buf = buf[:nl], buf[nl + 1:]
            yield pos, pos + nl + 1, line
            pos += nl + 1
    if buf:
        yield pos, pos + len(buf), buf


def orders_of(chunks: Iterable[bytes], *, start: int = 0,
              first_line: int = 1) -> Iterator[BulkOrder]:
    """Join the file's lines back into order nodes, in file order.

    A parent line (no `__parentId`) starts an order; its line items follow it (grouped
    output). A line that is not a JSON object is yielded as a problem with the reason —
    the order before it is marked `incomplete` (the broken line may have been one of its
    lines) and the orders the broken text names are listed to be read again; line items
    whose order was not the line before them (their parent line was the broken one) are
    left out and their order is listed too. Nothing else is lost."""
    current: BulkOrder | None = None
    current_start = start
    lineno = first_line - 1
    for begin, end, raw in _lines(chunks, start):
        lineno += 1
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
            if not isinstance(obj, dict):
                raise ValueError("the line is not a JSON object")
        except ValueError as exc:
            text = raw[:300].decode("utf-8", "replace")
            if current is not None:
                current.incomplete = True
            # end: a resumed read must not start past the order still being assembled
            yield BulkOrder(end=current_start if current is not None else begin,
                            problem=f"the line at byte {begin}: {exc}", line=lineno, text=text,
                            order_ids=sorted(set(_ORDER_GID.findall(text))))
            continue
        parent = obj.pop("__parentId", None)
        if parent is None:
            if current is not None:
                current.end = begin
                yield current
            current = BulkOrder(end=end, node={**obj, "lineItems": {"nodes": []}},
                                line=lineno)
            current_start = begin
            continue
        if current is not None and current.node and parent == current.node.get("id"):
            current.node["lineItems"]["nodes"].append(obj)
            current.end = end
            continue
        # a line item whose order line is not the one before it: that order's own line
        # was unreadable (or the file is not grouped); read the order again on its own
        yield BulkOrder(end=current_start if current is not None else begin, orphan=True,
                        problem=f"the line at byte {begin} is a line item of {parent}, "
                        "which is not the order before it", line=lineno, order_ids=[str(parent)])
    if current is not None:
        yield current


class BulkFileGone(Exception):
    """The file's URL answered 403/404/410: it expired (7 days) or was never there."""


def download(url: str, *, start: int = 0, timeout: float = 30.0,
             max_bytes: int) -> Iterator[bytes]:
    """Stream the JSONL file from `start` (an HTTP Range; a server that ignores it is read
    from the beginning and the first `start` bytes skipped) through the outbound HTTP
    policy (podhub/core/outbound.py: public addresses only, no redirects, a size cap)."""
    http = outbound.client(timeout=timeout, total_timeout=6 * 3600, max_bytes=max_bytes)
    headers = {"Range": f"bytes={start}-"} if start else {}
    try:
        with http.stream("GET", url, headers=headers) as resp:
            if resp.status_code in (403, 404, 410):
                raise BulkFileGone(f"HTTP {resp.status_code} for the bulk file")
            if resp.status_code == 416:  # nothing after `start`: the file was read
                return
            if resp.status_code not in (200, 206):
                raise ShopifyUnavailable(f"the bulk file answered HTTP {resp.status_code}")
            skip = start if resp.status_code == 200 else 0
            for chunk in resp.iter_bytes(READ_CHUNK):
                if skip:
                    if len(chunk) <= skip:
                        skip -= len(chunk)
                        continue
                    chunk, skip = chunk[skip:], 0
                yield chunk
    except (httpx.TimeoutException, httpx.TransportError) as exc:
        raise ShopifyUnavailable(f"reading the bulk file failed "
                                 f"({exc.__class__.__name__})") from None
    finally:
        http.close()
