"""``python -m hw.build``: see :mod:`hw.flow.build`."""

import sys

from hw.flow.build import main

if __name__ == "__main__":
    sys.exit(main())
