"""Server-rendered pages: the operator console (``/console``) and the developer inbox (``/dev/inbox``)."""

from senderid.edge import register_convertors

register_convertors()  # before any router of this package is built: they use {id:objectid}
