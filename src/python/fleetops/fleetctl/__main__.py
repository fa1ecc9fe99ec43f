"""`python -m fleetops.fleetctl ...`: the fleetctl command line."""

from __future__ import annotations

import sys

from fleetops.fleetctl.cli import main

if __name__ == "__main__":
    sys.exit(main())
