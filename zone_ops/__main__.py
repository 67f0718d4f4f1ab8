"""``python -m zone_ops edit IMAGE... --instruction TEXT --ip2p DIR --out DIR`` and
``python -m zone_ops localize ORIGINAL EDITED --sam FILE --out DIR`` (see ``zone_ops.cli``)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
