"""Settings for long-running server processes (gunicorn via app.wsgi, and `make run`), not for tests or the CLI."""

import gc


def tune_gc() -> None:
    """Fewer, cheaper collections for a long-running server.

    The verify caches keep tens of thousands of long-lived objects, and with Python's default
    thresholds the full collections over them were the p99 tail of verification (measured by
    `make bench`: p99 60–136 ms → about 30 ms). Objects alive at start-up are frozen out of collection.
    """
    gc.set_threshold(50_000, 20, 100)
    gc.freeze()
