"""``python -m sw.fetch``: see :mod:`sw.data.fetch`."""

import sys

from sw.data.fetch import main

if __name__ == "__main__":
    sys.exit(main())
