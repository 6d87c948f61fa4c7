"""``python -m openmm_equijump.campaign``: the command line of ``openmm_equijump.cli.campaign``."""
import sys

from .cli.campaign import main

if __name__ == "__main__":
    sys.exit(main())
