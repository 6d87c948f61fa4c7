"""The covalent geometry of training data, recorded in a checkpoint (the references of ``protein.covalent``)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Sequence, Union

from ..model.checkpoint import load_checkpoint, save_checkpoint
from ..protein.covalent import covalent_geometry
from .data.trajectories import load_protein


def add_covalent_geometry(checkpoint: Union[str, Path], topology: Union[str, Path],
                          trajectories: Sequence[Union[str, Path]]) -> Dict[str, float]:
    """Record the covalent geometry of the given training data in a checkpoint written before ``train`` did
    (the file is rewritten in place); returns it."""
    data = load_checkpoint(checkpoint)
    data["covalent_geometry"] = covalent_geometry([load_protein(topology, list(trajectories))])
    data.pop("format_version")
    save_checkpoint(checkpoint, data)
    return data["covalent_geometry"]
