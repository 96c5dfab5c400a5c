"""`python -m geoppp`: the command line, for callers that know a Python but not its scripts
(a QGIS script that runs geoppp in its own virtual environment)."""

import sys

from geoppp.cli import main

sys.exit(main())
