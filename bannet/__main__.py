"""Entry point for `python -m bannet`."""

from bannet.cli import main

raise SystemExit(main())
