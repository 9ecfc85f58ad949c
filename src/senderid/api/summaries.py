"""One line per operation for the API reference (``/docs``, ``/redoc``, ``/openapi.json``).

Keyed by (method, path) as the OpenAPI document spells them; :mod:`senderid.api.openapi`
puts them in, and a test checks that every operation has one (and nothing stale is left).
"""

from __future__ import annotations

SUMMARIES: dict[tuple[str, str], str] = {
    ("get", "/api/v1/user/token/verify"): "Check an API key",
    ("post", "/api/v1/customNumber/add"): "Register a mobile number as a sender (sends an OTP)",
    ("post", "/api/v1/customNumber/verifyCustomNumber"): "Verify a number with its OTP",
    ("get", "/api/v1/customNumber/list"): "List the account's custom numbers",
    ("get", "/api/v1/customNumber/{registration_id}"): "Get one custom number registration",
    ("delete", "/api/v1/customNumber/{registration_id}"): "End a custom number registration",
    ("post", "/api/v1/customNumber/{registration_id}/resend"): "Send a fresh OTP for a pending number",
    ("post", "/api/v1/business/add"): "Ask for a business name (alpha sender ID)",
    ("get", "/api/v1/business/list"): "List the account's business names",
    ("get", "/api/v1/business/{name_id}"): "Get one business name",
    ("delete", "/api/v1/business/{name_id}"): "Withdraw a business name still requested",
    ("post", "/api/v1/gateway"): "Send SMS as one of the account's senders",
    ("get", "/api/v1/senderId/check"): "May the account send as this sender?",
    ("post", "/admin/v1/accounts"): "Create an account",
    ("get", "/admin/v1/accounts"): "List accounts",
    ("get", "/admin/v1/accounts/{account_id}"): "Get an account",
    ("patch", "/admin/v1/accounts/{account_id}"): "Change an account's settings",
    ("post", "/admin/v1/accounts/{account_id}/keys"): "Create an API key (shown once)",
    ("get", "/admin/v1/accounts/{account_id}/keys"): "List an account's API keys",
    ("delete", "/admin/v1/keys/{key_id}"): "Revoke an API key",
    ("get", "/admin/v1/business-names"): "List business names of every account",
    ("get", "/admin/v1/business-names/{name_id}"): "Get a business name",
    ("post", "/admin/v1/business-names/{name_id}/approve"): "Approve a requested business name",
    ("post", "/admin/v1/business-names/{name_id}/reject"): "Reject a requested business name, with a reason",
    ("get", "/admin/v1/custom-numbers"): "Search custom numbers across accounts",
    ("get", "/admin/v1/audit"): "Read the audit log",
    ("get", "/healthz"): "Is the process up?",
    ("get", "/readyz"): "Does the database answer?",
    ("get", "/dev/inbox.json"): "The developer inbox's SMS, as JSON",
    ("post", "/dev/inbox/clear"): "Empty the developer inbox",
    ("get", "/dev/inbox"): "The developer inbox, as a page",
    ("get", "/admin/v1/accounts/{account_id}/credits"): "Get an account's prepaid balance",
    ("put", "/admin/v1/accounts/{account_id}/credits"): "Set or clear an account's prepaid balance",
    ("get", "/admin/v1/business-names/export.csv"): "Download the CSV for ACMA's SMS Sender ID Register",
    ("get", "/admin/v1/business-names/{name_id}/acma"): "Get a business name's ACMA register status and history",
    ("post", "/admin/v1/business-names/{name_id}/acma"): "Record a business name's ACMA register status",
    ("delete", "/api/v1/gateway/messages/{message_id}"): "Cancel a message not handed to the provider yet",
    ("get", "/api/v1/optouts"): "List the account's opt-out list",
    ("post", "/api/v1/optouts"): "Add a number to the account's opt-out list",
    ("delete", "/api/v1/optouts/{number}"): "Take a number off the account's opt-out list",
    ("get", "/api/v2/report/message/quick-api-credit-usage"): "SMS parts and credits used, per customString",
    ("get", "/s/{code}"): "Follow a short link (counts the click)",
    ("post", "/dev/inbox/reply"): "Post a phone's reply, for development (STOP opts out)",
}
