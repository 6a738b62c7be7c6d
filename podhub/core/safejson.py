"""JSON from outside, with a nesting limit (docs/security.md, "Malformed input").

Python's JSON reader recurses once per level: a body of 100 000 `[` raises
RecursionError (a 500), and a few hundred levels that do parse can still
break whatever walks or stores the result. Every JSON body from outside
(store, payment and provider webhooks, the API) is read through `loads`, or
checked with `check_depth` before a library parses it: deeper than MAX_DEPTH is
a ValueError with the reason, which each caller answers with a 400.
"""

import json
import re
from itertools import accumulate

MAX_DEPTH = 64  # Shopify, WooCommerce and Stripe payloads nest fewer than 12 levels

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}.__getitem__


class TooDeep(ValueError):
    pass


def depth(text: str) -> int:
    """How deep arrays and objects nest (brackets inside strings do not count)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP, brackets)), default=0)


def check_depth(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> str:
    """The body as text; TooDeep (a ValueError) past `max_depth`, UnicodeDecodeError
    (also a ValueError) when bytes are not UTF-8."""
    text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    if depth(text) > max_depth:
        raise TooDeep(f"The JSON is nested deeper than {max_depth} levels.")
    return text


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH, **kwargs):
    """json.loads after the depth check; every failure is a ValueError with the reason."""
    return json.loads(check_depth(data, max_depth=max_depth), **kwargs)
