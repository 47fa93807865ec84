"""Config sections shared by the protocols."""

import pytest
from pydantic import BaseModel

from axionlab.protocols.sections import Seeds


class _WithSeeds(BaseModel):
    seeds: Seeds = [0]


@pytest.mark.parametrize("seeds", [[], [0, 0], [-1]])
def test_seeds_are_nonempty_distinct_and_nonnegative(seeds):
    with pytest.raises(ValueError, match="seeds"):
        _WithSeeds(seeds=seeds)


def test_seeds_keep_their_order():
    assert _WithSeeds(seeds=[3, 0, 2]).seeds == [3, 0, 2]
    assert _WithSeeds().seeds == [0]
