"""Effective information (Hoel, Albantakis & Tononi 2013)."""

from __future__ import annotations

import numpy as np
import pytest

from axionlab.errors import InputError
from axionlab.phi.ei import effective_information


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_identity_has_k_bits(k):
    assert effective_information(np.eye(2**k)) == pytest.approx(k)


def test_hoel_eight_state_example():
    # PNAS 2013 Fig. 1: states 1-7 go uniformly to states 1-7, state 8 stays
    tpm = np.zeros((8, 8))
    tpm[:7, :7] = 1 / 7
    tpm[7, 7] = 1.0
    assert effective_information(tpm) == pytest.approx(0.5436, abs=1e-4)
    # its two-state macro scale (1-7 -> A, 8 -> B) is deterministic: 1 bit
    assert effective_information(np.eye(2)) == pytest.approx(1.0)


def test_constant_rows_have_zero_ei():
    assert effective_information(np.full((4, 4), 0.25)) == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("tpm", "match"),
    [
        (np.ones((2, 3)) / 3, "square"),
        (np.array([[1.2, -0.2], [0, 1]]), r"\[0, 1\]"),
        (np.array([[0.5, 0.2], [0, 1]]), "sum to 1"),
    ],
)
def test_invalid(tpm, match):
    with pytest.raises(InputError, match=match):
        effective_information(tpm)
