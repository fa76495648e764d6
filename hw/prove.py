"""``python -m hw.prove``: see :mod:`hw.flow.prove`."""

import sys

from hw.flow.prove import main

if __name__ == "__main__":
    sys.exit(main())
