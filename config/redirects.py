"""Where a flow may send the browser back to: same-site paths only, short enough to keep."""

from __future__ import annotations

from django.utils.http import url_has_allowed_host_and_scheme

# The longest "return to" address kept; longer ones fall back to the default page.
MAX_RETURN_TO_LENGTH = 500


def safe_return_to(candidate: str | None) -> str:
    """`candidate` if it is a path on this site that can be kept, otherwise the empty string."""
    if (
        candidate
        and len(candidate) <= MAX_RETURN_TO_LENGTH
        and "\x00" not in candidate
        and candidate.startswith("/")
        and url_has_allowed_host_and_scheme(candidate, allowed_hosts=set(), require_https=False)
    ):
        return candidate
    return ""
