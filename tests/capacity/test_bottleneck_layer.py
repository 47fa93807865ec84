import torch

from axionlab.capacity import (
    ArchSpec,
    bottleneck_layer,
    boundary_measures,
    build_model,
    capacity_family,
)


def _measures(spec: ArchSpec, cut: str | None = None):
    model = build_model(spec, torch.Generator().manual_seed(0))
    return boundary_measures(model, spec.input_shape, cut=cut)


def test_bottleneck_layer_names_the_narrow_layer_and_its_neighbours():
    mlp = ArchSpec("m", "mlp", "bottleneck", (6,), (8, 2, 8))
    name = bottleneck_layer(_measures(mlp))
    assert name == "2"  # Linear(6,8), ReLU, Linear(8,2): the second Linear
    # The weights on either side of the 2-wide layer: 8·2+2 and 2·8+8.
    assert _measures(mlp, name).cut_params == 18 + 24


def test_cnn_bottleneck_is_the_global_pool():
    for spec in capacity_family("cnn", (1, 4, 4), bottlenecks=(1, 2)):
        measures = _measures(spec)
        layer = next(x for x in measures.layers if x.name == bottleneck_layer(measures))
        assert layer.units == measures.bottleneck_width
        assert layer.type in ("AdaptiveAvgPool2d", "Conv2d")


def test_no_hidden_layer_has_no_bottleneck():
    assert bottleneck_layer(_measures(ArchSpec("p", "mlp", "none", (5,), ()))) is None
