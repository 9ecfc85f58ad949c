"""The peer's SMS backend: django-phone-verify's own base class, sending nothing.

Every security code is the configured ``CODE``, so the load generator knows it (as
senderid's flow row uses test numbers with a fixed code). Only the code's value is
fixed: it is stored, looked up with the session token and checked, and failed
attempts are counted, by the base class as for any backend. (django-phone-verify's
sandbox backends instead skip the check when the sandbox token is sent.)
"""

from phone_verify.backends.base import BaseBackend


class SendFailed(Exception):
    """Never raised: nothing is sent."""


class FixedCodeBackend(BaseBackend):
    def __init__(self, **options):
        super().__init__(**options)
        self.code = options["CODE"]
        self.exception_class = SendFailed

    def generate_security_code(self):
        return self.code

    def send_sms(self, number, message):
        pass

    def send_bulk_sms(self, numbers, message):
        pass
