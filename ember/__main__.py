"""``python -m ember``: the demo (see ``ember --help``)."""

import sys

from ember.cli import main

sys.exit(main())
