"""One delivery worker, in this process, draining a backlog to a local twilio peer: for profiling.

    python -m benchmarks.worker_profile [N] [DATABASE_URL]
    py-spy record --gil -o worker.txt -f raw -- .venv/bin/python -m benchmarks.worker_profile 6000

Starts ``peers.serve`` (twilio protocol, 50 ms), queues ``N`` (default 6,000)
bulk SMS straight into the outbox of a fresh SQLite file (or the given PostgreSQL database,
whose outbox it empties first), runs ``Worker.run`` until all are sent and prints SMS/s and
the process's CPU per SMS. Not a benchmark row (``make bench`` drives real clients through
``senderid serve``): the short path from queued to handed over, for a profiler to look at.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time

from sqlalchemy import text

from peers import serve, twilio
from senderid.domain import outbox
from senderid.runtime import build_context, build_worker
from senderid.settings import Settings
from senderid.store import migrate


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 6000
    url = sys.argv[2] if len(sys.argv) > 2 else f"sqlite:///{tempfile.mkdtemp()}/worker.db"
    with serve.started("twilio", 0.05) as peer:
        settings = Settings(database_url=url, secret_key=os.urandom(24).hex(), sms_provider="twilio",
                            twilio_base_url=peer.base, twilio_account_sid=twilio.ACCOUNT_SID,
                            twilio_auth_token=twilio.AUTH_TOKEN, twilio_from="+61491570199")
        ctx = build_context(settings)
        migrate.upgrade(ctx.db)
        with ctx.db.write() as conn:
            if not ctx.db.is_sqlite:
                conn.execute(text("TRUNCATE outbox"))
            for i in range(n):
                outbox.enqueue(conn, now=ctx.clock.now(), kind="sms", to=f"+6140{i:07d}", sender="Acme",
                               body=f"hello {i}", account_id="bench")
        worker = build_worker(ctx)
        stop = threading.Event()
        thread = threading.Thread(target=worker.run, args=(stop,))
        started, cpu = time.monotonic(), time.process_time()
        thread.start()
        while True:
            with ctx.db.read() as conn:
                if not conn.execute(text("SELECT count(*) FROM outbox WHERE status <> 'sent'")).scalar():
                    break
            time.sleep(0.1)
        seconds = time.monotonic() - started
        print(f"{n} SMS in {seconds:.2f} s = {n / seconds:.0f} SMS/s; "
              f"{(time.process_time() - cpu) * 1000 / n:.2f} ms of CPU per SMS")
        stop.set()
        worker.wake()
        thread.join()


if __name__ == "__main__":
    main()
