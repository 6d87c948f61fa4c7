"""From users' MD files to training batches: ``trajectories`` (reading, frame intervals, checks), ``pairs``
(transitions at a lag, the split by trajectory, batches) and ``clusters`` (cluster-enhanced sampling)."""
from .pairs import PairSampler, Segment, TransitionPairs, split_by_trajectory
from .trajectories import CloudTrajectory, ProteinData, TrajectoryError, load_protein

__all__ = ["CloudTrajectory", "PairSampler", "ProteinData", "Segment", "TrajectoryError", "TransitionPairs",
           "load_protein", "split_by_trajectory"]
