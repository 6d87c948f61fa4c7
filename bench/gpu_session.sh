#!/usr/bin/env bash
# One session on a GPU node that has Python and torch but no OpenMM and no package index: the reference-MD
# campaign on CUDA (+ CPU-platform workers on the other cores), then GPU timings of jumps and training steps.
# Carried beside the repository: .whl/ (cp312 wheels of openmm, openmm-cuda-13, mdtraj, deeptime, and the
# pdbfixer package folder) and .devshared/ (the structures and MD that bench/ reads from ../shared/data).
# Writes into $OUT: gpu.txt, campaign.log, md.tar.gz (data/md after the run), bench_*.txt.
#   SKIP_BENCH=1 CAMPAIGN_END_S=345 GPU_WORKERS=2 CPU_WORKERS=13 bash bench/gpu_session.sh
set -u
T0=$(date +%s)
elapsed() { echo $(( $(date +%s) - T0 )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl > $OUT/install.log 2>&1 || tail -5 $OUT/install.log
cp -r .whl/pdbfixer /tmp/site/
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
SP=$(python3 -c "import site; print(site.getsitepackages()[0])")
for d in $SP/nvidia/cu13/lib $SP/nvidia/*/lib; do [ -d $d ] && LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}:$d; done
export LD_LIBRARY_PATH
mkdir -p /tmp/site/nvidia && ln -sfn $SP/nvidia/cu13 /tmp/site/nvidia/cu13 2>/dev/null
mkdir -p ../shared/data && cp -r .devshared/* ../shared/data/
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee $OUT/gpu.txt
nproc | tee -a $OUT/gpu.txt
python3 - <<PY 2>&1 | tee -a $OUT/gpu.txt
import openmm, torch
print("openmm", openmm.version.full_version, "torch", torch.__version__, torch.cuda.is_available())
print([openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())])
print("plugin failures:", openmm.Platform.getPluginLoadFailures())
PY
PLAT=CPU; WORKERS=15; THREADS=1
python3 -c "import openmm; openmm.Platform.getPlatformByName('CUDA')" 2>/dev/null && { PLAT=CUDA; WORKERS=${GPU_WORKERS:-2}; }
echo "campaign on $PLAT with $WORKERS workers, started at $(elapsed) s" | tee -a $OUT/gpu.txt
MIN=$(python3 -c "print(max(1.0, (${CAMPAIGN_END_S:-345} - $(elapsed)) / 60))")
OMP_NUM_THREADS=1 timeout $(( ${CAMPAIGN_END_S:-345} + 60 )) python3 -m openmm_equijump.campaign data/md/campaign.yaml \
  --platform $PLAT --threads $THREADS --workers $WORKERS --cpu-workers ${CPU_WORKERS:-0} --stop-after-minutes $MIN > $OUT/campaign.log 2>&1
tail -8 $OUT/campaign.log | tr '\r' '\n' | tail -8
tar czf $OUT/md.tar.gz data/md && ls -la $OUT/md.tar.gz
echo "campaign done at $(elapsed) s"; [ -n "${SKIP_BENCH:-}" ] && exit 0
timeout 150 python3 bench/bench_throughput.py --device cuda --md-platform $PLAT --hidden 32 --batch-sizes 1 8 32 \
  --latent-steps 100 20 --md-seconds 3 --repeats 2 --max-jump-s 20 2>&1 | tee $OUT/bench_throughput.txt | grep -v Warn
echo "throughput done at $(elapsed) s"
timeout $(( 585 - $(elapsed) )) python3 bench/bench_train.py --hidden 32 --batch 8 32 128 --steps 3 --rounds 2 2>&1 | tee $OUT/bench_train.txt | grep -v Warn
echo "all done at $(elapsed) s"
