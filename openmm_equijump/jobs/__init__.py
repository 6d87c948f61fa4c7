"""What the commands do, composed from the layers: the main job (``simulate``: jumps through OpenMM, DCDs,
analysis) and the model evaluation (``evaluate``)."""
