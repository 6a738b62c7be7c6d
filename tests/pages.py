"""Reading a seller-API list the way an integrator does (docs/api.md "Pagination")."""


def every_page(api, url: str, **params) -> list[dict]:
    """Every row of the list at `url` (with its filters `params`), one row a page,
    following `next_cursor` until it is null."""
    rows, after = [], None
    for _ in range(500):
        answer = api.get(url, {**params, "limit": 1, **({"after": after} if after else {})})
        assert answer.status_code == 200, answer.content
        page = answer.json()
        assert set(page) == {"results", "next_cursor"} and len(page["results"]) == 1
        rows += page["results"]
        after = page["next_cursor"]
        if after is None:
            return rows
    raise AssertionError(f"{url}: next_cursor never ended")


def assert_bad_cursor_refused(api, url: str) -> None:
    """A cursor this list never returned is a 400 naming `after`, not an empty page."""
    answer = api.get(url, {"after": "bm90IGEgY3Vyc29y"})  # base64 of "not a cursor"
    assert answer.status_code == 400, answer.content
    assert set(answer.json()["error"]["fields"]) == {"after"}
