"""SO(3)-equivariant layers and networks of EquiJump, built on e3nn.

Every hidden feature is a flat e3nn array of irreps ``H x 0e + H x 1e``: ``H`` scalars followed by ``H``
vectors laid out channel-major (``[..., H + 3 * c + m]`` is component m of vector channel c), in the
Cartesian (x, y, z) basis of the coordinates. Vectors are labelled ``1e`` on purpose: parity is ignored,
so the networks are equivariant under rotations only (SO(3)) and keep the cross-product paths that let
them tell a protein from its mirror image (README, "Decisions": "SO(3), not O(3)").

Modules, one concept each:
    hidden_irreps           ``H x 0e + H x 1e``
    NeighbourGraph          kNN graph on anchors, radial embedding and spherical harmonics of the edges
    SelfInteraction         channel-wise tensor square, scalar MLP gate, linear
    SpatialConvolution      gated tensor product with the edge spherical harmonics, mean over neighbours
    EquivariantLayerNorm    layer norm of scalars, RMS norm of vectors
    DeepNet                 initial self-interaction, L blocks, linear over the block outputs, final one
    EquiJumpNetwork         conditioner + a pair of headers (P, V) per predicted quantity
    TemporalAttention       each node attends over the frames of its window; TemporalBlock [ET, ES, ET]
    TemporalNetwork         the temporal blocks and mixing coefficients made for a pretrained network's DeepNets
    WindowNetwork           a pretrained network run on windows with its TemporalNetwork mixed in by alpha
"""
from .irreps import hidden_irreps, split_hidden, join_hidden
from .graph import NeighbourGraph
from .self_interaction import SelfInteraction
from .convolution import SpatialConvolution
from .norm import EquivariantLayerNorm
from .deepnet import DeepNet, Block
from .network import EquiJumpNetwork, tau_embedding
from .temporal import TemporalAttention, TemporalBlock
from .interpolator import TemporalNetwork, WindowNetwork

__all__ = [
    "hidden_irreps", "split_hidden", "join_hidden", "NeighbourGraph", "SelfInteraction",
    "SpatialConvolution", "EquivariantLayerNorm", "DeepNet", "Block", "EquiJumpNetwork",
    "tau_embedding", "TemporalAttention", "TemporalBlock", "TemporalNetwork", "WindowNetwork",
]
