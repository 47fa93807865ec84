"""Every volume and area measure of one architecture of a family, in one record.

Volume: total and trainable parameters. Area: the parameters of the interface layers, the
input–output and hidden min-cuts, the bottleneck width and the parameters next to it
(:func:`boundary_measures` cut at :func:`bottleneck_layer`), and the min-cut between the two
input halves (:func:`half_mask`) through hidden units, and with input units cuttable too
(:func:`partition_cut`; Levine et al. 2018).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from axionlab.capacity.boundary import (
    LayerInfo,
    bottleneck_layer,
    boundary_measures,
    half_mask,
    partition_cut,
)
from axionlab.capacity.family import ArchSpec, build_model


@dataclass(frozen=True)
class BoundaryProfile:
    """The measures of :func:`boundary_profile` (``cut_layer``: the bottleneck layer's name)."""

    total_params: int
    trainable_params: int
    interface_params: int
    min_cut: int
    hidden_min_cut: int | None
    bottleneck_width: int | None
    cut_layer: str | None
    cut_params: int | None
    partition_cut: int
    partition_cut_inputs: int
    layers: tuple[LayerInfo, ...]

    def measures(self) -> dict[str, int | str | None]:
        """Every measure by name (all fields but ``layers``)."""
        return {
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "interface_params": self.interface_params,
            "min_cut": self.min_cut,
            "hidden_min_cut": self.hidden_min_cut,
            "bottleneck_width": self.bottleneck_width,
            "cut_layer": self.cut_layer,
            "cut_params": self.cut_params,
            "partition_cut": self.partition_cut,
            "partition_cut_inputs": self.partition_cut_inputs,
        }


def boundary_profile(spec: ArchSpec, generator: torch.Generator) -> BoundaryProfile:
    """The volume and area measures of ``spec``'s network (see the module docstring).

    The measures are counts and cuts of the network graph, so they do not depend on the weights
    ``generator`` draws; it only builds the model.
    """
    model = build_model(spec, generator)
    layer = bottleneck_layer(boundary_measures(model, spec.input_shape))
    measures = boundary_measures(model, spec.input_shape, cut=layer)
    mask = half_mask(spec.input_shape)
    return BoundaryProfile(
        total_params=measures.total_params,
        trainable_params=measures.trainable_params,
        interface_params=measures.interface_params,
        min_cut=measures.min_cut,
        hidden_min_cut=measures.hidden_min_cut,
        bottleneck_width=measures.bottleneck_width,
        cut_layer=measures.cut,
        cut_params=measures.cut_params,
        partition_cut=partition_cut(model, spec.input_shape, mask, cut_inputs=False),
        partition_cut_inputs=partition_cut(model, spec.input_shape, mask),
        layers=measures.layers,
    )
