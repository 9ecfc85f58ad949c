"""Everything that leaves the process: the outbox, the worker, SMS providers."""
