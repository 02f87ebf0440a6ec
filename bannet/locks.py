"""One writer at a time: a run holds its study folder's lock, and each seed's lock while it trains that seed.

The locks are fcntl.flock locks on small files in the study folder: the system releases them when their process
ends, however it ends, so a killed run never blocks the next one. The lock file names its holder, so that a refused
run can say which process it waits for. A seed run by a --jobs parent in its own process trains under its parent's
study lock and holds its seed's lock itself.
"""

import fcntl
import json
import os
import shlex
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TextIO

from bannet.errors import InvalidInput


def _holder(stream: TextIO) -> dict:
    """What the lock file says of its holder; empty while the holder has not written it yet."""
    stream.seek(0)
    try:
        return json.loads(stream.read())
    except ValueError:
        return {}


@contextmanager
def _hold(path: Path, what: str, parent_may_hold: bool) -> Iterator[None]:
    """Hold the lock at `path` for the block, or refuse in one line naming the process that holds it; with
    `parent_may_hold`, a lock held by this process's parent lets the block run (the parent writes for it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as stream:  # "a+": a refused run must not truncate the holder's note
        try:
            fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(stream)
            if not (parent_may_hold and holder.get("pid") == os.getppid()):
                named = (f"process {holder['pid']} (`{holder['command']}`, since {holder['since']})" if holder
                         else "another process")
                raise InvalidInput(f"{what} is being written by {named}: wait for it to end, or stop it (a stopped "
                                   "or killed run leaves no lock behind)") from None
        else:
            stream.seek(0)
            stream.truncate()
            stream.write(json.dumps({"pid": os.getpid(), "command": shlex.join([sys.executable, *sys.argv]),
                                     "since": time.strftime("%Y-%m-%d %H:%M:%S")}))
            stream.flush()
        yield  # closing the file releases the lock


def study_lock(out: Path) -> AbstractContextManager[None]:
    """The study folder's lock: one run at a time (its --jobs children train under it)."""
    return _hold(Path(out) / ".study.lock", f"the study folder {out}", parent_may_hold=True)


def seed_lock(out: Path, seed: int) -> AbstractContextManager[None]:
    """One seed's lock, held while the seed trains."""
    return _hold(Path(out) / f".seed-{seed}.lock", f"seed {seed} of {out}", parent_may_hold=False)
