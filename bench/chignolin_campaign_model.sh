#!/bin/bash
# The shipped chignolin model (v4): trained on the reference-MD campaign and the shipped training MD, judged against
# the campaign replicas it did not see (its MODEL_CARD.md has the numbers).
#   data:     campaign replicas 0 1 3 4 6 (native starts 0 4 6, unfolded starts 1 3) and training_md's 8 runs train;
#             replicas 2 5 7 8 9 are the reference (native 2 8, unfolded 5 7 9); the campaign's 1 ns burn-in left
#             out of both (the shipped model used the first 19.5 ns of each training replica, the campaign then);
#   training: openmm_equijump/pretrained/chignolin/train_config.yaml (36,000 steps at batch 8);
#   rollouts: 20 replicas x 100 jumps (10 ns) from the native structure, their first 1 ns left out like the
#             reference's burn-in; 100 latent steps (the default) and 20;
#   judged:   evaluate (stability, JS divergences with the MD noise floor) and kinetics (folded fraction, MFPTs,
#             implied timescales, TIC1 autocorrelation, displacement per jump; 95 % bootstrap over runs).
#   OMP_NUM_THREADS=1 bash bench/chignolin_campaign_model.sh runs/chignolin_v4
set -euo pipefail
out=${1:?output folder}
campaign=data/md/campaign.yaml
native=openmm_equijump/pretrained/chignolin/structure.pdb
held_out="2 5 7 8 9"
mkdir -p "$out"
[ -d "$out/train_md" ] || python -m openmm_equijump.campaign $campaign --export chignolin "$out/train_md" --replicas 0 1 3 4 6
[ -d "$out/reference_md" ] || python -m openmm_equijump.campaign $campaign --export chignolin "$out/reference_md" \
    --replicas $held_out
md=openmm_equijump/pretrained/chignolin/training_md
[ -f "$out/model/checkpoint.pt" ] || python -m openmm_equijump.train --lag-ps 100 --no-progress \
    --dataset "$out/train_md/heavy_atoms.pdb" "$out"/train_md/replica_*.xtc --dataset $md/heavy_atoms.pdb \
    $md/md_seed100?.xtc --config openmm_equijump/pretrained/chignolin/train_config.yaml --out "$out/model"
# name, model, latent steps per jump: the default 100 and 20 (the sampler-settings question)
for run in "model $out/model 100" "model_l20 $out/model 20"; do
    set -- $run
    [ -f "$out/eval_$1/evaluation.json" ] || python -m openmm_equijump.evaluate --model "$2" --pdb $native \
        --latent-steps "$3" --replicas 20 --jumps 100 --burn-in-ps 1000 \
        --reference-topology "$out/reference_md/heavy_atoms.pdb" --reference "$out"/reference_md/replica_*.xtc \
        --out "$out/eval_$1"
    python -m openmm_equijump.kinetics --campaign $campaign --protein chignolin --replicas $held_out \
        --generated "$out"/eval_$1/replica_*.dcd --generated-topology $native --generated-burn-in-ns 1 \
        --out "$out/kinetics_$1.yaml"
done
