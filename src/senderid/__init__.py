"""senderid: a self-hostable Sender ID service for SMS platforms."""

__version__ = "0.1.0"
