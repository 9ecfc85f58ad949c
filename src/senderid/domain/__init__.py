"""The rules of senderid, one module per aggregate. No web framework here."""
