"""Server-rendered pages: the developer inbox (and, later, the operator console)."""
