"""``python -m detector`` is the ``coordetect`` command."""

import sys

from detector.cli import main

sys.exit(main())
