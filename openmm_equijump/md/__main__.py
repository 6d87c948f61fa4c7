"""``python -m openmm_equijump.md``: the command line of ``openmm_equijump.cli.md``."""
import sys

from ..cli.md import main

if __name__ == "__main__":
    sys.exit(main())
