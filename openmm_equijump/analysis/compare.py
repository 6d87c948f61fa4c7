"""Compare generated dynamics with reference MD: ``compare_dynamics(reference, generated, native, settings)``.

Steps (the EquiJump paper's evaluation, on deeptime and mdtraj):
1. TICA on C-alpha pairwise distances of the reference; k-means on its first ``n_tics`` TICs.
2. Every frame of both ensembles: TICs, cluster, C-alpha RMSD and GDT-TS to native, heavy-atom Rg,
   fraction of native contacts, backbone dihedrals.
3. One MSM per ensemble (on its own discrete trajectories) reweights its frames to its stationary
   distribution.
4. Jensen-Shannon divergences of TIC1, TIC2, RMSD, GDT-TS, Rg and FNC, raw and reweighted; bond length,
   bond angle and clash distributions of randomly drawn frames (raw).
5. The noise floor: steps 2-4 between independent parts of the reference, with the same TICA, clusters and
   settings; one part shaped like the generated set (as many runs, as long), so the floor is what reference
   MD of the generated set's size scores (``split_reference``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import mdtraj as md
import numpy as np

from .chemistry import VDW_RADIUS_A, BondGraph, bond_angles_deg, bond_graph, bond_lengths_A, clash_counts
from .divergence import DistributionComparison, compare_samples
from .frames import Ensemble, match_calpha
from .msm import MSMReweighting, fit_clusters, msm_reweighting
from .observables import (GDT_CUTOFFS_A, calpha_indices, calpha_rmsd_A, fraction_native_contacts, gdt_ts,
                          native_contact_pairs, radius_of_gyration_A, ramachandran_deg)
from .settings import AnalysisSettings, ResolvedSettings, resolve_settings, strided, without_burn_in
from .tica import calpha_distances, fit_tica

#: name -> unit of the per-frame observables compared (raw and MSM-reweighted).
OBSERVABLES = {"tic1": "kinetic-map TIC", "tic2": "kinetic-map TIC", "rmsd": "A", "gdt_ts": "fraction",
               "rg": "A", "fnc": "fraction"}
#: name -> unit of the chemistry distributions compared (raw, over randomly drawn frames).
CHEMISTRY = {"bond_length": "A", "bond_angle": "deg", "clashes": "pairs per frame"}


@dataclass
class ReferenceFit:
    """What is fitted once on the reference and the native structure, and applied to every ensemble."""

    tica: object  # deeptime TransferOperatorModel (TICA)
    clusters: object  # deeptime KMeansModel
    calphas: np.ndarray  # C-alpha indices in the analysis (heavy-atom) order
    native_calphas: md.Trajectory
    contacts: np.ndarray
    graph: BondGraph
    settings: ResolvedSettings


@dataclass
class ObservedEnsemble:
    """Per-frame observables of one ensemble, one array per trajectory (plus drawn chemistry frames).

    values[name]: (n_frames,) for the OBSERVABLES; tics: (n_frames, n_tics); dtrajs: cluster per
    frame; phi_psi: (n_frames, n_residues - 1, 2) backbone dihedrals in degrees; weights: MSM frame
    weights; chemistry[name]: pooled values of the CHEMISTRY names over the drawn frames.
    """

    values: dict[str, list[np.ndarray]]
    tics: list[np.ndarray]
    dtrajs: list[np.ndarray]
    phi_psi: list[np.ndarray]
    chemistry: dict[str, np.ndarray]
    msm: MSMReweighting
    sources: list[str]

    def pooled(self, name: str) -> np.ndarray:
        return np.concatenate(self.values[name])

    @property
    def weights(self) -> np.ndarray:
        return np.concatenate(self.msm.weights)


@dataclass
class Comparison:
    """Reference against one other ensemble: observables (raw + reweighted) and chemistry (raw)."""

    observables: dict[str, DistributionComparison]
    chemistry: dict[str, DistributionComparison]
    reference_msm: dict
    generated_msm: dict
    reference_sources: list[str]
    generated_sources: list[str]
    reference_frames: int
    generated_frames: int

    def divergences(self, reweighted: bool = True) -> dict[str, float]:
        """name -> JS divergence (reweighted observables when asked, raw chemistry always)."""
        result = {name: (c.js_reweighted if reweighted else c.js_raw) for name, c in self.observables.items()}
        result.update({name: c.js_raw for name, c in self.chemistry.items()})
        return result

    def to_dict(self) -> dict:
        return {
            "divergences_reweighted": self.divergences(True),
            "divergences_raw": self.divergences(False),
            "observables": {k: v.to_dict() for k, v in self.observables.items()},
            "chemistry": {k: v.to_dict() for k, v in self.chemistry.items()},
            "reference_msm": self.reference_msm, "generated_msm": self.generated_msm,
            "reference_sources": self.reference_sources, "generated_sources": self.generated_sources,
            "reference_frames": self.reference_frames, "generated_frames": self.generated_frames,
        }


@dataclass
class Metrics:
    """Everything ``compare_dynamics`` measured. ``to_dict`` is what metrics.json holds; the observed
    ensembles (per-frame arrays) are kept for the figures."""

    settings: AnalysisSettings
    resolved: ResolvedSettings
    comparison: Comparison
    noise_floor: Comparison | None
    noise_floor_split: dict
    tica: dict
    chemistry_terms: dict
    reference: ObservedEnsemble = field(repr=False)
    generated: ObservedEnsemble = field(repr=False)

    def to_dict(self) -> dict:
        return {
            "units": {**OBSERVABLES, **CHEMISTRY,
                      "divergence": "Jensen-Shannon, natural log (0 .. ln 2 = 0.693)"},
            "settings": self.settings.to_dict(),
            "resolved_settings": self.resolved.to_dict(),
            "tica": self.tica,
            "chemistry_terms": self.chemistry_terms,
            "generated_vs_reference": self.comparison.to_dict(),
            "noise_floor": self.noise_floor.to_dict() if self.noise_floor else None,
            "noise_floor_split": self.noise_floor_split,
        }


def fit_reference(reference: Ensemble, native: md.Trajectory, resolved: ResolvedSettings) -> ReferenceFit:
    """TICA and k-means on the reference; native C-alphas and contacts; the heavy-atom bond graph."""
    topology = reference.trajectories[0].topology
    calphas = calpha_indices(topology)
    native_calphas = native[0].atom_slice(match_calpha(topology, native.topology))
    features = [calpha_distances(t.atom_slice(calphas)) for t in reference.trajectories]
    tica = fit_tica(features, resolved.tica_lag_frames, resolved.n_tics)
    clusters = fit_clusters([tica.transform(f) for f in features], resolved.n_clusters, resolved.seed)
    return ReferenceFit(tica=tica, clusters=clusters, calphas=calphas, native_calphas=native_calphas,
                        contacts=native_contact_pairs(native_calphas),
                        graph=bond_graph(topology, resolved.clash_overlap_A), settings=resolved)


def _draw_frames(ensemble: Ensemble, n: int, seed: int) -> md.Trajectory:
    """Up to ``n`` frames drawn without replacement from all frames of an ensemble."""
    offsets = np.cumsum([0] + ensemble.lengths)
    chosen = np.sort(np.random.default_rng(seed).permutation(offsets[-1])[:n])
    which = np.searchsorted(offsets, chosen, side="right") - 1
    xyz = np.concatenate([ensemble.trajectories[t].xyz[[f]] for t, f in zip(which, chosen - offsets[which])])
    return md.Trajectory(xyz, ensemble.trajectories[0].topology)


def observe(ensemble: Ensemble, fit: ReferenceFit, msm_lag_frames: int) -> ObservedEnsemble:
    """All per-frame observables of an ensemble, its MSM weights and its chemistry draw."""
    values: dict[str, list[np.ndarray]] = {name: [] for name in OBSERVABLES}
    tics, dtrajs, phi_psi = [], [], []
    for trajectory in ensemble.trajectories:
        calphas = trajectory.atom_slice(fit.calphas)
        tic = fit.tica.transform(calpha_distances(calphas))
        tics.append(tic)
        dtrajs.append(fit.clusters.transform(tic.astype(np.float64)))
        values["tic1"].append(tic[:, 0])
        values["tic2"].append(tic[:, 1])
        values["rmsd"].append(calpha_rmsd_A(calphas, fit.native_calphas))
        values["gdt_ts"].append(gdt_ts(calphas, fit.native_calphas))
        values["rg"].append(radius_of_gyration_A(trajectory))
        values["fnc"].append(fraction_native_contacts(calphas, fit.contacts))
        phi_psi.append(ramachandran_deg(trajectory))
    drawn = _draw_frames(ensemble, fit.settings.chemistry_frames, fit.settings.seed)
    chemistry = {"bond_length": bond_lengths_A(drawn, fit.graph).ravel(),
                 "bond_angle": bond_angles_deg(drawn, fit.graph).ravel(),
                 "clashes": clash_counts(drawn, fit.graph)}
    msm = msm_reweighting(dtrajs, fit.settings.n_clusters, msm_lag_frames)
    return ObservedEnsemble(values, tics, dtrajs, phi_psi, chemistry, msm, list(ensemble.sources))


def discrete_steps(fit: ReferenceFit) -> dict[str, float]:
    """The observables that take discrete values, and their spacing: GDT-TS moves in steps of
    1 / (4 residues), FNC in steps of 1 / (native contacts), clash counts in steps of 1."""
    return {"gdt_ts": 1.0 / (len(GDT_CUTOFFS_A) * len(fit.calphas)), "fnc": 1.0 / len(fit.contacts),
            "clashes": 1.0}


def compare_observed(reference: ObservedEnsemble, generated: ObservedEnsemble, n_bins: int,
                     steps: dict[str, float]) -> Comparison:
    """JS divergences of every observable (raw, reweighted) and chemistry distribution (raw); the
    observables named in ``steps`` are binned on their discrete values."""
    observables = {
        name: compare_samples(name, unit, reference.pooled(name), generated.pooled(name), n_bins,
                              reference.weights, generated.weights, step=steps.get(name))
        for name, unit in OBSERVABLES.items()}
    chemistry = {
        name: compare_samples(name, unit, reference.chemistry[name], generated.chemistry[name], n_bins,
                              step=steps.get(name))
        for name, unit in CHEMISTRY.items()}
    return Comparison(observables, chemistry, reference.msm.summary(), generated.msm.summary(),
                      reference.sources, generated.sources,
                      sum(len(v) for v in reference.values["rmsd"]),
                      sum(len(v) for v in generated.values["rmsd"]))


def split_reference(reference: Ensemble, generated: Ensemble | None = None) -> tuple[Ensemble, Ensemble, str]:
    """Two independent parts of the reference for the noise floor: part A is compared with part B as the
    generated set is compared with the whole reference.

    With ``generated`` and several reference trajectories, part A is shaped like the generated set: as many
    independent reference runs as it has trajectories (at most half of the reference's; the longest first), each
    cut to the generated trajectories' median duration from its start, and part B is the other runs, whole (the
    rest of a cut run is left out: it is not independent of its start). Without ``generated``: two groups of
    whole trajectories with frame totals as equal as a greedy longest-first split allows. One trajectory: its
    first and second half.
    """
    if len(reference.trajectories) == 1:
        trajectory = reference.trajectories[0]
        half = trajectory.n_frames // 2
        source = reference.sources[0]
        return (Ensemble([trajectory[:half]], reference.frame_ps, [f"{source}[:{half}]"]),
                Ensemble([trajectory[half:]], reference.frame_ps, [f"{source}[{half}:]"]),
                "halves of one trajectory")
    longest_first = [int(i) for i in np.argsort(reference.lengths, kind="stable")[::-1]]
    if generated is not None:
        duration_ps = float(np.median(generated.lengths)) * generated.frame_ps
        frames = max(1, int(round(duration_ps / reference.frame_ps)))
        chosen = longest_first[:max(1, min(len(generated.trajectories), len(reference.trajectories) // 2))]
        part_a = Ensemble([reference.trajectories[i][:frames] for i in chosen], reference.frame_ps,
                          [f"{reference.sources[i]}[:{frames}]" for i in chosen])
        rest = [i for i in longest_first if i not in chosen]
        how = (f"{len(chosen)} independent reference run(s) cut to {duration_ps / 1000:g} ns against the other "
               f"{len(rest)} (the generated set: {len(generated.trajectories)} trajectories of "
               f"{duration_ps / 1000:g} ns, median)")
        return part_a, reference.subset(sorted(rest)), how
    groups: tuple[list[int], list[int]] = ([], [])
    totals = [0, 0]
    for index in longest_first:
        smaller = int(totals[1] < totals[0])
        groups[smaller].append(index)
        totals[smaller] += reference.lengths[index]
    return reference.subset(groups[0]), reference.subset(groups[1]), "independent trajectories"


def compare_dynamics(reference: Ensemble, generated: Ensemble, native: md.Trajectory,
                     settings: AnalysisSettings | None = None) -> Metrics:
    """Judge generated dynamics against reference MD (see the module docstring for the steps).

    reference, generated: ensembles over the same protein heavy atoms (``load_ensemble`` /
    ``ensemble_from_trajectories``). native: the native structure (first frame used; C-alphas matched
    by residue). Frame intervals set in ``settings`` override the ensembles'. Returns Metrics;
    ``metrics.to_dict()`` is JSON-ready.
    """
    settings = settings or AnalysisSettings()
    if settings.reference_frame_ps is not None:
        reference = replace(reference, frame_ps=settings.reference_frame_ps)
    if settings.generated_frame_ps is not None:
        generated = replace(generated, frame_ps=settings.generated_frame_ps)
    generated = without_burn_in(generated, settings.generated_burn_in_ps)
    reference, generated = strided(reference, settings.stride_ps), strided(generated, settings.stride_ps)
    resolved = resolve_settings(settings, reference, generated)
    fit = fit_reference(reference, native, resolved)
    observed_reference = observe(reference, fit, resolved.msm_lag_reference_frames)
    observed_generated = observe(generated, fit, resolved.msm_lag_generated_frames)
    steps = discrete_steps(fit)
    comparison = compare_observed(observed_reference, observed_generated, resolved.n_bins, steps)
    noise_floor, split = None, {"computed": False}
    if settings.noise_floor:
        part_a, part_b, how = split_reference(reference, generated)
        split = {"computed": True, "how": how, "part_a": part_a.sources, "part_b": part_b.sources,
                 "frames_a": part_a.n_frames, "frames_b": part_b.n_frames}
        noise_floor = compare_observed(observe(part_a, fit, resolved.msm_lag_reference_frames),
                                       observe(part_b, fit, resolved.msm_lag_reference_frames),
                                       resolved.n_bins, steps)
    tica_info = {"lag_ps": resolved.tica_lag_ps, "lag_frames": resolved.tica_lag_frames,
                 "n_features": int(len(fit.calphas) * (len(fit.calphas) - 1) // 2),
                 "singular_values": np.asarray(fit.tica.singular_values[:resolved.n_tics]).tolist(),
                 "timescales_ps": (np.asarray(fit.tica.timescales(resolved.tica_lag_frames)[:resolved.n_tics])
                                   * resolved.reference_frame_ps).tolist()}
    chemistry_terms = {"n_bonds": len(fit.graph.bonds), "n_angles": len(fit.graph.angles),
                       "n_clash_pairs": len(fit.graph.clash_pairs), "clash_pairs": "heavy atoms > 3 bonds apart",
                       "clash_distance": "vdW radius sum - clash_overlap_A", "vdw_radius_A": VDW_RADIUS_A,
                       "n_native_contacts": len(fit.contacts)}
    return Metrics(settings, resolved, comparison, noise_floor, split, tica_info, chemistry_terms,
                   observed_reference, observed_generated)
