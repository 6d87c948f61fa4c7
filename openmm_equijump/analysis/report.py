"""metrics.json and a plain-text table of the divergences beside their noise floor."""
from __future__ import annotations

import json
from pathlib import Path

from .compare import CHEMISTRY, OBSERVABLES, Metrics
from .divergence import JS_PAIR_LABEL, js_pair


def write_metrics(metrics: Metrics, path: Path) -> None:
    """Every number of ``metrics`` (settings, bins, counts, raw and reweighted divergences) as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics.to_dict(), indent=1))


def summary_table(metrics: Metrics) -> str:
    """Jensen-Shannon divergences (natural log) of generated vs reference, next to the noise floor; every cell is
    ``js_pair``'s divergence / distance."""
    r = metrics.resolved
    lines = [
        f"TICA lag {r.tica_lag_ps:g} ps, {r.n_tics} TICs, {r.n_clusters} clusters, MSM lag {r.msm_lag_ps:g} ps, "
        f"{r.n_bins} bins; frames: reference {metrics.comparison.reference_frames} x {r.reference_frame_ps:g} ps, "
        f"generated {metrics.comparison.generated_frames} x {r.generated_frame_ps:g} ps "
        f"(chosen from data: {', '.join(r.chosen_from_data) or 'none'})",
        f"{JS_PAIR_LABEL} (distance = sqrt(divergence), scipy's jensenshannon)",
        f"{'':<14}{'reweighted':>17}{'raw':>17}{'noise floor':>17}{'(raw)':>17}",
    ]
    floor = metrics.noise_floor
    for name in list(OBSERVABLES) + list(CHEMISTRY):
        if name in OBSERVABLES:
            c = metrics.comparison.observables[name]
            values = [c.js_reweighted, c.js_raw]
            f = floor.observables[name] if floor else None
            floors = [f.js_reweighted, f.js_raw] if f else [None, None]
        else:
            c = metrics.comparison.chemistry[name]
            values = [None, c.js_raw]
            floors = [None, floor.chemistry[name].js_raw if floor else None]
        cells = "".join(f"{js_pair(v):>17}" for v in values + floors)
        lines.append(f"{name:<14}{cells}")
    split = metrics.noise_floor_split
    if split["computed"]:
        lines.append(f"noise floor: the reference's {split['how']}, {split['frames_a']} vs {split['frames_b']} frames "
                     "(compare a model's numbers with it only at a similar number of frames)")
    return "\n".join(lines)
