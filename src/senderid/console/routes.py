"""The operator console under ``/console``: server-rendered pages over the domain functions.

Mounted only when ``SENDERID_ADMIN_TOKEN`` is set. Thin on purpose: every page
reads through the domain modules and every action calls the same domain
function as the admin API and the CLI (audited with the actor ``console`` and
the client's IP). The plumbing (sessions on requests, CSRF, forms, rendering) is
in :mod:`senderid.console.plumbing`; each page group has its own module.
"""

from __future__ import annotations

from fastapi import APIRouter

from senderid.console import (
    accounts,
    audit,
    business,
    exports,
    gateway,
    home,
    messages,
    numbers,
    protected,
    signin,
)

router = APIRouter()
for _group in (signin, home, accounts, numbers, business, messages, gateway, protected, audit, exports):
    router.include_router(_group.router)
