"""What the console's pages say when there is nothing to show, on both databases."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.split("<main", 1)[1]))


@pytest.mark.parametrize(("path", "empty"), [
    ("/console/accounts", "No accounts yet."),
    ("/console/numbers", "No custom numbers match."),
    ("/console/numbers?status=active", "No custom numbers match."),
    ("/console/business-names", "Nothing to review: no business name is waiting."),
    ("/console/business-names?status=", "No business names match."),
    ("/console/messages", "No messages match."),
    ("/console/audit?action=key.revoked", "No events."),
])
def test_an_empty_list_says_so_once(console: TestClient, path: str, empty: str) -> None:
    page = console.get(path)
    assert page.status_code == 200
    text = text_of(page.text)
    assert text.count(empty) == 1
    assert len(re.findall(r"\bNo(thing)? [a-z]", text)) == 1, text  # and no second "No ..." (the pager's)


def test_a_list_with_rows_counts_them_in_its_pager(console: TestClient, customer) -> None:
    page = console.get("/console/accounts")
    assert "1–1 of 1 accounts" in text_of(page.text) and "No accounts yet." not in page.text
