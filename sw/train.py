"""``python -m sw.train``: see :mod:`sw.learn.train`."""

import sys

from sw.learn.train import main

if __name__ == "__main__":
    sys.exit(main())
