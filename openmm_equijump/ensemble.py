"""``python -m openmm_equijump.ensemble``: the command line of ``openmm_equijump.cli.ensemble``."""
import sys

from .cli.ensemble import main

if __name__ == "__main__":
    sys.exit(main())
