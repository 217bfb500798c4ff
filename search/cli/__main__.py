"""``python -m search.cli``: the same as the ``vae-search`` command."""

import sys

from search.cli import entry

sys.exit(entry())
