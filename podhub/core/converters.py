"""URL converters. `<id:...>` is every object id in a URL (docs/security.md).

`<int:...>` passed any number of digits to the database: a 20-digit id is larger
than an id column holds (OverflowError on SQLite: a 500). An id is 1 to 19
digits and at most 2^63 - 1; anything else does not match, so it is a 404.
"""

MAX_ID = 2**63 - 1  # the largest value of an id column (bigint)


class IdConverter:
    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= MAX_ID:
            raise ValueError("not an id")  # no match: 404
        return number

    def to_url(self, value) -> str:
        return str(int(value))
