#!/bin/bash
# Align Your Structures on chignolin in the data-scarce regime the paper argues for: does structure pretraining
# help a trajectory model that sees little trajectory data?
#   stage 1: the structure model on all 6400 frames of the shipped training MD, as unordered structures;
#   stage 2: forward blocks of T = 11 frames 10 ps apart, on windows of two trajectories only (seeds 1001 and 1002,
#            13 ns), around the frozen pretrained network; and the same window model from scratch (--from-scratch),
#            same steps and batch;
#   rollouts: 20 replicas x 1000 frames (10 ns, 100 chained blocks) from the native structure, judged by evaluate
#            against the reference-MD campaign's chignolin replicas (which no model saw), with the MD noise floor;
#            the shipped EquiJump model beside them (20 x 100 jumps of 100 ps).
#   OMP_NUM_THREADS=1 bash bench/ays_chignolin.sh runs/ays [ancestral steps per block] [stage-2 steps]
set -euo pipefail
out=${1:?output folder}
block_steps=${2:-20}
steps=${3:-2000}
md=openmm_equijump/pretrained/chignolin/training_md
native=openmm_equijump/pretrained/chignolin/structure.pdb
reference="--reference-topology data/md/chignolin/heavy_atoms.pdb --reference data/md/chignolin/replica_*/trajectory.xtc"
mkdir -p "$out"
model="model: {H: 16, conditioner_layers: 4, header_layers: 3, k_neighbors: 16, n_radial: 16, r_max: 20.0, input_length_A: 10.0}"
printf '%s\ntemperature_K: 350.0\nvalidate_every: 1000\ncheckpoint_every: 1000\n' "$model" > "$out/structure.yaml"
printf '%s\ntemperature_K: 350.0\nvalidate_every: 500\ncheckpoint_every: 500\nvalidation_pairs: 64\n' "$model" \
    > "$out/blocks.yaml"
[ -f "$out/structure/checkpoint.pt" ] || python -m openmm_equijump.train --method structure \
    --config "$out/structure.yaml" --dataset $md/heavy_atoms.pdb $md/md_seed100?.xtc --steps 16000 --batch-size 8 \
    --out "$out/structure" --no-progress
windows="--task forward --frames 11 --lag-ps 10 --dataset $md/heavy_atoms.pdb $md/md_seed1001.xtc $md/md_seed1002.xtc
         --steps $steps --batch-size 2 --no-progress"
[ -f "$out/blocks_pretrained/checkpoint.pt" ] || python -m openmm_equijump.train --method blocks \
    --pretrained "$out/structure" --config "$out/blocks.yaml" $windows --out "$out/blocks_pretrained"
[ -f "$out/blocks_scratch/checkpoint.pt" ] || python -m openmm_equijump.train --method blocks --from-scratch \
    --config "$out/blocks.yaml" $windows --out "$out/blocks_scratch"
for name in blocks_pretrained blocks_scratch; do
    [ -f "$out/eval_$name/evaluation.json" ] || python -m openmm_equijump.evaluate --model "$out/$name" \
        --pdb $native --replicas 20 --jumps 1000 --latent-steps "$block_steps" $reference --out "$out/eval_$name"
done
[ -f "$out/eval_equijump/evaluation.json" ] || python -m openmm_equijump.evaluate --model chignolin --replicas 20 \
    --jumps 100 $reference --out "$out/eval_equijump"
