"""The sandbox's bulk operations, as Shopify documents them (shopify.dev):

* "Perform bulk operations with the GraphQL Admin API" (docs/api/usage/bulk-operations/
  queries): `bulkOperationRunQuery` runs the query in the background; one bulk query at
  a time per shop (before API 2026-01) — a second one while one runs is answered with a
  userError naming the running one; the result is a JSONL file at `url`, one line per
  object, the nodes of a nested connection on lines of their own with `__parentId`.
* mutations/bulkOperationRunQuery: `groupObjects` (children directly below their parent).
* objects/BulkOperation: id, status, errorCode, createdAt, completedAt, objectCount,
  rootObjectCount, fileSize, url, partialDataUrl, query, type; queries
  `currentBulkOperation` and `node(id:)`.
* enums/BulkOperationStatus (CREATED RUNNING COMPLETED CANCELING CANCELED FAILED EXPIRED),
  enums/BulkOperationErrorCode (ACCESS_DENIED INTERNAL_SERVER_ERROR TIMEOUT).
* Webhook `bulk_operations/finish` (changelog 2021-10): body `admin_graphql_api_id`,
  `completed_at`, `created_at`, `error_code`, `status`, `type` (lower case, as in the
  webhook reference's sample), signed like every other webhook.

The sandbox reads only `orders(query: "...")` with their `lineItems`: the import's document.
By default an operation runs at once in a thread; with `auto` off (control API
`POST /_sandbox/bulk {"auto": false}`) it waits until a test finishes it
(`POST /_sandbox/bulk/<n>/finish {"status", "error_code", "inject"}`), so tests need no
sleeps. Files are written to a temporary directory and served with HTTP Range support at
`<shop base>/_bulk/<n>.jsonl`, without a token (a signed storage URL at Shopify).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import threading
from datetime import UTC, datetime

_SEARCH = re.compile(r'orders\(\s*query:\s*"((?:[^"\\]|\\.)*)"')


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class BulkOperations:
    def __init__(self, shop):
        self.shop = shop
        self.lock = threading.Lock()
        self.ops: dict[int, dict] = {}
        self.current: int | None = None
        self.auto = True
        self.base_url = ""  # set by the server: where this shop's paths are
        self.dir = tempfile.mkdtemp(prefix="sandbox-shopify-bulk.")

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- GraphQL ---------------------------------------------------------------------

    def public(self, op: dict | None) -> dict | None:
        if op is None:
            return None
        return {k: v for k, v in op.items() if not k.startswith("_")}

    def run_query(self, variables: dict) -> dict:
        query = str(variables.get("query") or "")
        with self.lock:
            cur = self.ops.get(self.current) if self.current else None
            if cur is not None and cur["status"] in ("CREATED", "RUNNING", "CANCELING"):
                return {"bulkOperation": None, "userErrors": [{
                    "field": None,
                    "message": "A bulk query operation for this app and shop is already in "
                               f"progress: {cur['id']}."}]}
            if not _SEARCH.search(query) and "orders" not in query:
                return {"bulkOperation": None, "userErrors": [{
                    "field": ["query"],
                    "message": "Invalid bulk query: the sandbox reads only orders."}]}
            n = len(self.ops) + 1
            op = {"id": f"gid://shopify/BulkOperation/{n}", "status": "CREATED",
                  "errorCode": None, "createdAt": _iso(datetime.now(UTC)),
                  "completedAt": None, "objectCount": "0", "rootObjectCount": "0",
                  "fileSize": None, "url": None, "partialDataUrl": None, "query": query,
                  "type": "QUERY", "_n": n}
            self.ops[n] = op
            self.current = n
        self.shop.stats["bulk_operations"] = self.shop.stats.get("bulk_operations", 0) + 1
        if self.auto:
            threading.Thread(target=self.finish, args=(n,), daemon=True,
                             name=f"sandbox-bulk-{n}").start()
        return {"bulkOperation": {"id": op["id"], "status": "CREATED"}, "userErrors": []}

    def node(self, gid: str) -> dict | None:
        m = re.fullmatch(r"gid://shopify/BulkOperation/(\d+)", str(gid or ""))
        with self.lock:
            return self.public(self.ops.get(int(m.group(1)))) if m else None

    def current_operation(self) -> dict | None:
        with self.lock:
            return self.public(self.ops.get(self.current)) if self.current else None

    # --- running -----------------------------------------------------------------------

    def path(self, n: int) -> str:
        return os.path.join(self.dir, f"{n}.jsonl")

    def finish(self, n: int, *, status: str = "COMPLETED", error_code: str | None = None,
               inject: list | None = None) -> dict:
        """Run operation n to its end: write the file (all of it, or — FAILED — the part
        read before the failure, as partialDataUrl), set the status, send the webhook.
        `inject`: [{"after": k, "text": "..."}] writes a raw line after the k-th order."""
        with self.lock:
            op = self.ops[n]
            if op["status"] not in ("CREATED", "RUNNING"):
                return self.public(op)
            op["status"] = "RUNNING"
            query = op["query"]
        m = _SEARCH.search(query)
        search = json.loads(f'"{m.group(1)}"') if m else None
        extra = {int(i.get("after", 0)): str(i.get("text", "")) for i in inject or []}
        stop_after = None
        if status == "FAILED":
            stop_after = max(0, self.shop.count(search) // 2)
        objects = roots = 0
        with open(self.path(n), "wb") as f:
            after = None
            done = False
            while not done:
                orders, more, after = self.shop.search(search, first=500, after=after)
                for o in orders:
                    if stop_after is not None and roots >= stop_after:
                        done = True
                        break
                    node = self.shop.gql_order(o, lines_first=10 ** 6)
                    lines = node.pop("lineItems")["nodes"]
                    f.write(json.dumps(node, separators=(",", ":")).encode() + b"\n")
                    for ln in lines:
                        f.write(json.dumps({**ln, "__parentId": node["id"]},
                                           separators=(",", ":")).encode() + b"\n")
                    roots += 1
                    objects += 1 + len(lines)
                    if roots in extra:
                        f.write(extra[roots].encode() + b"\n")
                done = done or not more
            size = f.tell()
        url = f"{self.base_url}/_bulk/{n}.jsonl"
        with self.lock:
            op.update(status=status, errorCode=error_code,
                      completedAt=_iso(datetime.now(UTC)), objectCount=str(objects),
                      rootObjectCount=str(roots), fileSize=str(size) if size else None)
            if status == "COMPLETED":
                op["url"] = url if roots else None
            elif status == "FAILED" and roots:
                op["partialDataUrl"] = url
            payload = {"admin_graphql_api_id": op["id"], "completed_at": op["completedAt"],
                       "created_at": op["createdAt"],
                       "error_code": error_code.lower() if error_code else None,
                       "status": status.lower(), "type": "query"}
            public = self.public(op)
        self.shop.emit("bulk_operations/finish", payload)
        return public

    def expire(self, n: int) -> dict:
        """Seven days later: the URL is gone (status EXPIRED)."""
        with self.lock:
            op = self.ops[n]
            op.update(status="EXPIRED", url=None, partialDataUrl=None)
            with contextlib.suppress(OSError):
                os.unlink(self.path(n))
            return self.public(op)

    # --- the file --------------------------------------------------------------------

    def serve(self, n: int, environ, start_response):
        with self.lock:
            op = self.ops.get(n)
            ok = op is not None and (op.get("url") or op.get("partialDataUrl"))
        path = self.path(n)
        if not ok or not os.path.exists(path):
            start_response("404 Not Found", [("Content-Length", "0")])
            return [b""]
        size = os.path.getsize(path)
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", environ.get("HTTP_RANGE", "").strip())
        if m:
            start = int(m.group(1))
            if start >= size:
                start_response("416 Range Not Satisfiable",
                               [("Content-Range", f"bytes */{size}"), ("Content-Length", "0")])
                return [b""]
            start_response("206 Partial Content", [
                ("Content-Type", "application/jsonl"), ("Content-Length", str(size - start)),
                ("Content-Range", f"bytes {start}-{size - 1}/{size}")])
        else:
            start_response("200 OK", [("Content-Type", "application/jsonl"),
                                      ("Content-Length", str(size))])
        self.shop.stats["bulk_downloads"] = self.shop.stats.get("bulk_downloads", 0) + 1
        self.shop.stats["bulk_last_start"] = start

        def chunks():
            with open(path, "rb") as f:
                f.seek(start)
                while True:
                    chunk = f.read(256 * 1024)
                    if not chunk:
                        return
                    yield chunk
        return chunks()
