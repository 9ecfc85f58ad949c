"""Apply Alembic migrations from inside the package (no alembic.ini needed)."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import exc
from sqlalchemy.engine import make_url

from senderid.store.db import Database

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(db: Database | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if db is not None:
        config.attributes["engine"] = db.engine
    return config


def heads() -> set[str]:
    """The newest migration(s) this package has."""
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def upgrade(db: Database, revision: str = "head") -> list[Migration]:
    """Apply the migrations up to ``revision``: the ones applied, oldest first (none when the
    database was at it already)."""
    before = current(db)
    command.upgrade(alembic_config(db), revision)
    applied = _reached(current(db)) - _reached(before)
    return [m for m in history() if m.revision in applied]


@dataclass(frozen=True, slots=True)
class Migration:
    revision: str
    down_revision: str | None
    description: str  # the first line of its docstring


def history() -> list[Migration]:
    """Every migration this package has, oldest first."""
    from alembic.script import ScriptDirectory

    scripts = reversed(list(ScriptDirectory.from_config(alembic_config()).walk_revisions()))
    return [Migration(s.revision, s.down_revision if isinstance(s.down_revision, str) or s.down_revision is None
                      else ",".join(s.down_revision), (s.doc or "").strip().splitlines()[0] if s.doc else "")
            for s in scripts]


def current(db: Database) -> set[str]:
    """The revision(s) the database is at (empty: no senderid tables yet)."""
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def applied(db: Database) -> set[str]:
    """Every revision the database has applied."""
    return _reached(current(db))


def _reached(heads: set[str]) -> set[str]:
    """The revisions a database at ``heads`` has applied."""
    from alembic.script import ScriptDirectory

    if not heads:
        return set()
    script = ScriptDirectory.from_config(alembic_config())
    return {s.revision for s in script.iterate_revisions(tuple(heads), "base")}


def is_current(db: Database) -> bool:
    """True when the database is at the newest migration."""
    from alembic.script import ScriptDirectory

    return current(db) == set(ScriptDirectory.from_config(alembic_config(db)).get_heads())


def where(url: str) -> str:
    """The database of ``url`` as an operator finds it: a SQLite file's absolute path, or
    the URL without its password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return str(Path(parsed.database).resolve()) if parsed.database not in (None, "", ":memory:") else ":memory:"
    return parsed.render_as_string(hide_password=True)


_UPGRADE = "run `senderid db upgrade` first"


def schema_problem(url: str) -> str | None:
    """Why the database at ``url`` cannot be used as it is, in one line, or None when it is
    at the newest migration. Looks without changing anything: a missing SQLite file is not
    created, a SQLite file is opened read-only."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            return None  # an in-memory database is migrated by whoever opens it
        path = Path(parsed.database)
        if not path.is_file():
            return f"no senderid database at {where(url)}: {_UPGRADE} (or point SENDERID_DATABASE_URL at yours)"
        current = _sqlite_revisions(path)
    else:
        db = Database(url, pool_size=1)
        quiet = logging.getLogger("alembic.runtime.migration")
        level = quiet.level
        quiet.setLevel(logging.WARNING)  # a look, not a migration: no INFO lines
        try:
            with db.engine.connect() as conn:
                from alembic.runtime.migration import MigrationContext

                current = set(MigrationContext.configure(conn).get_current_heads())
        except exc.OperationalError as error:
            reason = str(error.orig or error).strip().splitlines()[0]
            return f"cannot reach the database {where(url)}: {reason}"
        finally:
            quiet.setLevel(level)
            db.dispose()
    wanted = heads()
    if current == wanted:
        return None
    if not current:
        return f"the database {where(url)} has no senderid tables yet: {_UPGRADE}"
    if current - known_revisions():
        return (f"the database {where(url)} is at migration {', '.join(sorted(current))}, newer than "
                f"this senderid ({', '.join(sorted(wanted))}): install the senderid that migrated it")
    return (f"the database {where(url)} is at migration {', '.join(sorted(current))} and this "
            f"senderid needs {', '.join(sorted(wanted))}: {_UPGRADE}")


def _sqlite_revisions(path: Path) -> set[str]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return {row[0] for row in conn.execute("SELECT version_num FROM alembic_version")}
    except sqlite3.DatabaseError:  # no such table, or not a database at all
        return set()
    finally:
        conn.close()
