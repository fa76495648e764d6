"""``python -m hw.export``: see :mod:`hw.flow.export`."""

import sys

from hw.flow.export import main

if __name__ == "__main__":
    sys.exit(main())
