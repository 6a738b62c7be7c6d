"""DRF parsers (REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"])."""

import codecs

from rest_framework import exceptions, parsers
from rest_framework.utils import json as drf_json

from podhub.core import safejson


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with the nesting limit of podhub/core/safejson.py (a body of
    100 000 `[` was a RecursionError, a 500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = codecs.getreader(encoding)(stream).read()
            data = safejson.loads(text, parse_constant=drf_json.strict_constant)
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        if "\\u0000" in text:  # no text column can store NUL (PostgreSQL refuses it)
            raise exceptions.ParseError("JSON parse error - text may not contain \\u0000.")
        return data
