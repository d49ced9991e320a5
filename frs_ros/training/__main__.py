"""``python -m frs_ros.training STAGE ...`` (same as ``frs train STAGE ...``)."""

from frs_ros.training.cli import main

raise SystemExit(main())
