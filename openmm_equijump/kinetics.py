"""``python -m openmm_equijump.kinetics``: the command line of ``openmm_equijump.cli.kinetics``."""
import sys

from .cli.kinetics import main

if __name__ == "__main__":
    sys.exit(main())
