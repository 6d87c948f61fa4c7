#!/bin/bash
# Align Your Structures' transition paths on chignolin: 100 interpolated paths between the folded metastate and an
# unfolded one, judged against the reference-MD campaign (analyze --tps).
#   model:     the interpolation task (T = 21 frames 10 ps apart: 200 ps paths) around the structure model of
#              bench/ays_chignolin.sh (its $out/structure), on windows of all 8 shipped training_md trajectories;
#   reference: every campaign replica, split where frames are missing (campaign --export), after the burn-in;
#   states:    PCCA+ metastates of the reference MSM at the MSM lag; without FOLDED UNFOLDED the script prints each
#              metastate's population and median C-alpha RMSD to native and stops: name the lowest-RMSD one
#              FOLDED and an unfolded one (RMSD > 4 A) that exchanges flux with it UNFOLDED;
#   paths:     100 paths from one reference frame of FOLDED to one of UNFOLDED (50 ancestral steps), read every
#              MSM lag, beside 100 reference MSM bridges (the noise floor) and the MD stretches of 200 ps.
#   OMP_NUM_THREADS=1 bash bench/ays_tps_chignolin.sh runs/ays [FOLDED UNFOLDED] [MSM lag ps, default 50]
# The README's numbers: `runs/ays 5 9 50`, then the same paths read every 10 ps (PCCA+ at that lag numbers the
# folded and the end frame's metastates 6 and 9): python -m openmm_equijump.analyze $tps (with --msm-lag-ps 10)
#   --states 6 9 --out runs/ays/tps_judged_lag10 --generated runs/ays/paths_5_9/path_*.dcd --generated-topology ...
set -euo pipefail
out=${1:?output folder of bench/ays_chignolin.sh}
folded=${2:-}
unfolded=${3:-}
lag=${4:-50}
md=openmm_equijump/pretrained/chignolin/training_md
native=openmm_equijump/pretrained/chignolin/structure.pdb
[ -f "$out/interp/checkpoint.pt" ] || python -m openmm_equijump.train --method blocks --pretrained "$out/structure" \
    --config "$out/blocks.yaml" --task interpolation --frames 21 --lag-ps 10 \
    --dataset $md/heavy_atoms.pdb $md/md_seed100?.xtc --steps 1500 --batch-size 2 --no-progress --out "$out/interp"
[ -d "$out/tps_reference" ] || python -m openmm_equijump.campaign data/md/campaign.yaml --export chignolin \
    "$out/tps_reference"
tps="--tps --topology $out/tps_reference/heavy_atoms.pdb --reference $out/tps_reference/replica_*.xtc
     --native $native --msm-lag-ps $lag"
if [ -z "$unfolded" ]; then
    python -m openmm_equijump.analyze $tps --out "$out/tps_states"
    exit 0
fi
python -m openmm_equijump.analyze $tps --states "$folded" "$unfolded" --out "$out/tps_${folded}_${unfolded}"
[ -f "$out/paths_${folded}_${unfolded}/path_99.dcd" ] || python -m openmm_equijump.interpolate --model "$out/interp" \
    --start "$out/tps_${folded}_${unfolded}/endpoints/start_0.pdb" \
    --end "$out/tps_${folded}_${unfolded}/endpoints/end_0.pdb" --topology $native --paths 100 --steps 50 \
    --out "$out/paths_${folded}_${unfolded}"
python -m openmm_equijump.analyze $tps --states "$folded" "$unfolded" --out "$out/tps_${folded}_${unfolded}_judged" \
    --generated "$out"/paths_${folded}_${unfolded}/path_*.dcd \
    --generated-topology "$out/paths_${folded}_${unfolded}/topology.pdb"
