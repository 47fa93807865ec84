import pytest

from axionlab.errors import UnknownNameError, UserError
from axionlab.registry import Registry


def test_lookup_and_suggestion():
    reg: Registry[int] = Registry("model")
    reg.add("mlp", 1)
    reg.add("resnet18", 2)
    assert reg.get("mlp") == 1 and "mlp" in reg and len(reg) == 2
    with pytest.raises(UnknownNameError) as info:
        reg.get("mpl")
    assert str(info.value) == "Unknown model 'mpl'. Did you mean 'mlp'? Available: mlp, resnet18"
    assert isinstance(info.value, UserError)
    with pytest.raises(UnknownNameError, match=r"Unknown model 'zzz'. Available: mlp, resnet18"):
        reg.get("zzz")


def test_reregistering_is_an_error():
    reg: Registry[int] = Registry("strategy")

    @reg.register("ewc")
    def ewc() -> int:
        return 1

    with pytest.raises(ValueError, match="strategy 'ewc' is already registered"):
        reg.add("ewc", 2)
    assert reg.names() == ["ewc"]
