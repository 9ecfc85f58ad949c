"""Server-rendered pages: the operator console (``/console``) and the developer inbox (``/dev/inbox``)."""
