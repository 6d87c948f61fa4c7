#!/bin/bash
# DiffMD in the package's own regime (lag 100 ps, the shipped chignolin training MD at 10 ps per frame):
# DiffMD with velocities of two earlier frames (history 2) and without (history 0) beside the two-sided model,
# the same small network and budget as bench/bench_diffmd.py, each rolled out 10 x 100 jumps (10 ns) and
# judged by python -m openmm_equijump.evaluate (stability, divergences against the shipped reference MD).
#   OMP_NUM_THREADS=1 bash bench/diffmd_100ps.sh runs/diffmd_100ps [steps]
set -euo pipefail
out=${1:?output folder}
steps=${2:-3000}
md=openmm_equijump/pretrained/chignolin/training_md
ref=openmm_equijump/pretrained/chignolin/reference
mkdir -p "$out"
common="model: {H: 16, conditioner_layers: 2, header_layers: 2}
steps: $steps
batch_size: 16
lag_ps: 100.0
temperature_K: 350.0"
printf '%s\nmethod: diffmd\ndiffmd: {history: 2}\n' "$common" > "$out/diffmd.yaml"
printf '%s\nmethod: diffmd\ndiffmd: {history: 0}\n' "$common" > "$out/diffmd_history0.yaml"
printf '%s\n' "$common" > "$out/two_sided.yaml"
for name in diffmd diffmd_history0 two_sided; do
    [ -f "$out/$name/checkpoint.pt" ] || python -m openmm_equijump.train --config "$out/$name.yaml" \
        --topology $md/heavy_atoms.pdb --trajectories $md/md_seed100?.xtc --out "$out/$name" --no-progress
    [ -d "$out/eval_$name" ] || python -m openmm_equijump.evaluate --model "$out/$name" --replicas 10 --jumps 100 \
        --latent-steps 20 --reference-topology $ref/heavy_atoms.pdb --reference $ref/md_seed*.xtc --out "$out/eval_$name"
done
