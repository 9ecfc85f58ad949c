"""A Twilio REST API peer: the Messages resource, ``POST /2010-04-01/Accounts/{AccountSid}/
Messages.json``, as Twilio documents it.

It checks HTTP basic auth (account SID and auth token, error 20003), a form-encoded body
with ``To`` (21604 missing, 21211 invalid), ``Body`` (21602), and ``From`` (21603 missing,
21212 invalid) or ``MessagingServiceSid``; it answers 201 with a Message resource
(``sid`` = ``SM`` + 32 hex, ``status`` queued/accepted) and errors as
``{"code", "message", "more_info", "status"}``.

:meth:`TwilioPeer.status_callback` then POSTs a status callback to the message's
``StatusCallback`` URL, signed with ``X-Twilio-Signature`` the way Twilio signs it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import re
import urllib.request
from email.utils import formatdate
from urllib.parse import urlencode

from peers.http import HttpPeer, Request, Response

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-test-token"

_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
_ALPHA = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
_SERVICE = re.compile(r"^MG[0-9a-f]{32}$")


def twilio_error(status: int, code: int, message: str, **headers: str) -> Response:
    body = {"code": code, "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
    return Response.json(status, body, **headers)


class TwilioPeer(HttpPeer):
    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.send_path = f"/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.invalid_numbers: set[str] = {"+61491570000"}
        self.messages: dict[str, dict[str, str | None]] = {}
        self._ids = itertools.count(1)

    def authorization(self) -> str:
        return "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()

    def error_response(self, status: int, retry_after: int | None = None) -> Response:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        if status == 429:
            return twilio_error(429, 20429, "Too Many Requests", **headers)
        return twilio_error(status, 20500, "Internal Server Error", **headers)

    def handle(self, request: Request) -> Response:
        if request.path != self.send_path:
            return twilio_error(404, 20404, "The requested resource was not found")
        if not self._authorised(request.headers.get("authorization", "")):
            return twilio_error(401, 20003, "Authenticate")
        if request.method != "POST":
            return twilio_error(405, 20004, "Method not allowed")
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return twilio_error(400, 20001, "Unsupported content type")
        form = request.form()
        to, body = form.get("To", ""), form.get("Body", "")
        sender, service = form.get("From", ""), form.get("MessagingServiceSid", "")
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not _E164.match(to) or to in self.invalid_numbers:
            return twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not body:
            return twilio_error(400, 21602, "Message body is required.")
        if not sender and not service:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if sender and not (_E164.match(sender) or _ALPHA.match(sender)):
            return twilio_error(400, 21212, f"Invalid 'From' Phone Number: {sender}")
        if service and not _SERVICE.match(service):
            return twilio_error(400, 21705, "The Messaging Service Sid is invalid.")
        sid = f"SM{next(self._ids):032x}"
        self.messages[sid] = {"To": to, "From": sender or None, "Body": body,
                              "MessagingServiceSid": service or None,
                              "StatusCallback": form.get("StatusCallback")}
        now = formatdate(usegmt=True)
        resource = {
            "account_sid": self.account_sid, "api_version": "2010-04-01", "body": body,
            "date_created": now, "date_sent": None, "date_updated": now,
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": sender or None, "messaging_service_sid": service or None,
            "num_media": "0", "num_segments": "1", "price": None, "price_unit": "USD",
            "sid": sid, "status": "accepted" if service else "queued", "to": to,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
        }
        answer = Response.json(201, resource)
        answer.handoffs = (to,)
        return answer

    def _authorised(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return False
        return hmac.compare_digest(f"{user}:{password}", f"{self.account_sid}:{self.auth_token}")

    def status_callback(self, sid: str, status: str, error_code: str | None = None,
                        done_date: str | None = None) -> int:
        """POST Twilio's status callback for ``sid`` to its StatusCallback URL; ``done_date``
        (``YYMMDDhhmm``) is the carrier's ``RawDlrDoneDate`` of a delivered or undelivered one."""
        message = self.messages[sid]
        url = message["StatusCallback"]
        assert url and url.startswith("http://127.0.0.1:"), "callbacks stay on loopback"
        form = {"AccountSid": self.account_sid, "ApiVersion": "2010-04-01",
                "From": message["From"] or "", "MessageSid": sid, "MessageStatus": status,
                "SmsSid": sid, "SmsStatus": status, "To": message["To"] or ""}
        if error_code:
            form["ErrorCode"] = error_code
        if done_date:
            form["RawDlrDoneDate"] = done_date
        signed = url + "".join(key + form[key] for key in sorted(form))
        signature = base64.b64encode(
            hmac.new(self.auth_token.encode(), signed.encode(), hashlib.sha1).digest()).decode()
        request = urllib.request.Request(
            url, data=urlencode(form).encode(), method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "X-Twilio-Signature": signature})
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status
