"""Transports: the ways to learn and sample the jump X^t -> X^(t + lag) with the same network (``base``).

``TransportConfig.kind`` names one of ``TRANSPORTS``; a new transport is a module here, one line below and its
name in ``config.KINDS``.
"""
from .base import Transport
from .config import TransportConfig
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



def make_transport(config: TransportConfig) -> Transport:
    """The transport module that ``config.kind`` names."""
    return TRANSPORTS[config.kind](config)


__all__ = ["DDPM", "TRANSPORTS", "FlowMatching", "OneSidedInterpolant", "Transport", "TransportConfig",
           "TwoSidedInterpolant", "make_transport"]
