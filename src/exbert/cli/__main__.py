"""``python -m exbert.cli ARGS``: the same as ``exbert ARGS``."""

import sys

from exbert.cli import main

sys.exit(main())
