"""Small helpers shared by the test suites."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit


def query_of(url: str) -> dict[str, str]:
    """The query string of `url` as a dict of single values."""
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def local_path(url: str) -> str:
    """`url` without scheme and host, for Django's test client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path
