"""Storage: SQLAlchemy Core tables, transactions and dialect differences."""

from senderid.store.db import Database
from senderid.store.tables import metadata

__all__ = ["Database", "metadata"]
