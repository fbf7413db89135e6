"""`python -m device` is the same as `ami`."""

import sys

from device.cli.main import main

sys.exit(main())
