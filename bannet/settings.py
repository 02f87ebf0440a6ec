"""Where bannet finds its data: an explicit argument, else $BANNET_DATA, else ./data."""

import os
from pathlib import Path

DATA_ENV = "BANNET_DATA"


def data_root(root: str | Path | None = None) -> Path:
    """The data root: `root` when given, else the BANNET_DATA environment variable, else ./data."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else Path("data")
