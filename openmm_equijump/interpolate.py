"""``python -m openmm_equijump.interpolate``: the command line of ``openmm_equijump.cli.interpolate``."""
import sys

from .cli.interpolate import main

if __name__ == "__main__":
    sys.exit(main())
