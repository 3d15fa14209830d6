"""`python -m benchmarks.faults PART`: see `benchmarks.faults.cli`."""

import sys

from benchmarks.faults.cli import main

sys.exit(main())
