"""Transports: the ways to learn and sample the jump X^t -> X^(t + lag) with the same network (``base``).

``InterpolantConfig.kind`` names one of ``TRANSPORTS``; a new transport is a module here and one line below.
"""
from .base import Transport
from .ddpm import DDPM
from .flow_matching import FlowMatching
from .one_sided import OneSidedInterpolant
from .two_sided import TwoSidedInterpolant

TRANSPORTS = {
    "two_sided": TwoSidedInterpolant,
    "one_sided": OneSidedInterpolant,
    "flow_matching": FlowMatching,
    "ddpm": DDPM,
}

__all__ = ["TRANSPORTS", "Transport", "TwoSidedInterpolant", "OneSidedInterpolant", "FlowMatching", "DDPM"]
