"""The pages satisfy the production Content-Security-Policy in a real browser, and a violation would be caught."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

pytestmark = pytest.mark.django_db(transaction=True)


def test_pages_carry_the_policy_and_a_violation_is_caught(page: Page, site, csp_violations):
    response = page.goto("/")

    assert "default-src 'self'" in response.headers["content-security-policy"]
    # An inline style attribute, as a template mistake would add.
    with page.expect_console_message(lambda message: "Content Security Policy" in message.text):
        page.evaluate("document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">inline</p>')")
    assert len(csp_violations) == 1, csp_violations
    assert "inline style" in csp_violations[0]
    assert "default-src 'self'" in csp_violations[0]
    csp_violations.clear()  # this test's violation was on purpose
