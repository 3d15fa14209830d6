"""`python -m edtune ...` runs the same CLI as the `edtune` console script."""

import sys

from edtune.cli import main

if __name__ == "__main__":
    sys.exit(main())
