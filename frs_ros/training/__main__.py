"""``python -m frs_ros.training STAGE ...`` = ``frs train STAGE ...``, with the same error
handling (one line, exit code 2, ``--debug`` for tracebacks)."""

import sys

from frs_ros.cli import main

args = sys.argv[1:]
debug = ["--debug"] if "--debug" in args else []
raise SystemExit(main([*debug, "train", *(a for a in args if a != "--debug")]))
