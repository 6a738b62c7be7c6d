"""What every part of the sandbox store shares: WordPress REST errors and store times."""

from __future__ import annotations

from datetime import UTC, datetime


class RestError(Exception):
    """A WP_Error as the REST server answers it: `{code, message, data: {status, ...}}`."""

    def __init__(self, status: int, code: str, message: str, *, data: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.data = data or {}

    def error(self) -> dict:
        return {"code": self.code, "message": self.message,
                "data": {"status": self.status, **self.data}}

    def body(self) -> dict:
        return self.error()


def fmt(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S")
