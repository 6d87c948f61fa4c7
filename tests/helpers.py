"""What the tests share: where their data lives, and the checks and readers several test files use."""
import csv
import os
from pathlib import Path

import pytest

from openmm_equijump.runtime.load import PRETRAINED_DIR

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
#: The optional development data (structures of other proteins, full-atom MD in DCDs): $EQUIJUMP_DEV_DATA, else
#: where the developers keep it beside the checkout.
SHARED_DATA = Path(os.environ.get("EQUIJUMP_DEV_DATA", ROOT.parent / "shared" / "data"))
#: The chignolin data that ships with the package: ``structure.pdb`` (all atoms, the MD's native start),
#: ``training_md/`` and ``reference/`` (heavy-atom XTCs of amber14/OBC2 MD at 350 K, 10 ps per frame).
SHIPPED = PRETRAINED_DIR / "chignolin"


def structure_file(name: str) -> Path:
    """A structure file by its name in the development data's ``structures/``; chignolin_amber14.pdb is the
    shipped ``structure.pdb`` (the same atoms), so it needs no development data. Skips the test when the file
    is absent."""
    if name == "chignolin_amber14.pdb":
        return SHIPPED / "structure.pdb"
    path = SHARED_DATA / "structures" / name
    if not path.is_file():
        pytest.skip(f"development data not found at {SHARED_DATA}")
    return path


def bad_input(main, argv, capsys) -> str:
    """The one ``error:`` line that ``main(argv)`` prints for bad input (asserting exit status 2 and one line)."""
    capsys.readouterr()
    status = main([str(a) for a in argv])
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2, f"exit status {status}, stderr {lines}"
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def read_losses(path: Path) -> list[dict[str, str]]:
    with open(path / "losses.csv", newline="") as handle:
        return list(csv.DictReader(handle))
