"""Settings for long-running server processes (gunicorn via app.wsgi, and `make run`), not for tests or the CLI."""

import gc
import sys


def tune_gc() -> None:
    """Fewer, cheaper collections for a long-running server.

    The verify caches keep tens of thousands of long-lived objects, and with Python's default
    thresholds the full collections over them were the p99 tail of verification (measured by
    `make bench`: p99 60–136 ms → about 30 ms). Objects alive at start-up are frozen out of collection.
    """
    gc.set_threshold(50_000, 20, 100)
    gc.freeze()


# How `make run` and `make bench` serve the app (README's production command uses the same): gunicorn's
# threaded workers keep each client's connection alive and each thread's JSON-RPC connection reused.
WORKERS = 2
THREADS = 4


def gunicorn_command(
    bind: str, *, workers: int = WORKERS, threads: int = THREADS, app: str = "app.wsgi:app"
) -> list[str]:
    """The gunicorn command line for `app` at `bind` (host:port), with this interpreter's gunicorn."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--bind",
        bind,
        "--log-level",
        "warning",
        app,
    ]
