"""LSH worker process: ``python -m lakehouse.dedup.lsh_worker READ_FD WRITE_FD NUM_PERM BANDS ROWS SEED``.

Receives ``(row ids, signature columns of its bands)`` messages until ``None``, queries then
inserts each row in a datasketch ``MinHashLSH(num_perm, params=(BANDS, ROWS))`` and answers with
its candidate pairs ``(later row ids, earlier row ids)``. Started by :class:`CandidateIndex`
through ``subprocess`` (not multiprocessing), so the caller's ``__main__`` is never re-imported.
"""

from __future__ import annotations

import sys


def serve(read_fd: int, write_fd: int, num_perm: int, bands: int, rows: int, seed: int) -> None:
    """Serve one band group until the parent sends ``None``."""
    from multiprocessing.connection import Connection

    import numpy as np
    from datasketch import MinHashLSH

    from lakehouse.dedup.near import feed_lsh

    inbox = Connection(read_fd, writable=False)
    outbox = Connection(write_fd, readable=False)
    lsh = MinHashLSH(num_perm=num_perm, params=(bands, rows))
    left: list[int] = []
    right: list[int] = []
    try:
        while (msg := inbox.recv()) is not None:
            feed_lsh(lsh, msg[0], msg[1], seed, left, right)
    except EOFError:  # the parent gave up (its own error is reported there)
        sys.exit(1)
    outbox.send((np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)))
    outbox.close()
    inbox.close()


if __name__ == "__main__":
    serve(*(int(a) for a in sys.argv[1:7]))
