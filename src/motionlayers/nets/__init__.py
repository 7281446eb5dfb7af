"""Network building blocks: the configurable U-Net and its block registries."""

from motionlayers.nets.blocks import (
    CONV_BLOCKS,
    DOWN_BLOCKS,
    NORMS,
    TRANSIT_BLOCKS,
    UP_BLOCKS,
    DoubleConv,
)
from motionlayers.nets.unet import UNet, count_parameters

__all__ = [
    "CONV_BLOCKS",
    "DOWN_BLOCKS",
    "NORMS",
    "TRANSIT_BLOCKS",
    "UP_BLOCKS",
    "DoubleConv",
    "UNet",
    "count_parameters",
]
