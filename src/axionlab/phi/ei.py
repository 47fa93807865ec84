"""Effective information of a discrete transition matrix (Hoel, Albantakis & Tononi 2013).

``EI(T) = (1/N) Σ_s D_KL(T[s, :] ‖ Ē)`` in bits, with ``Ē`` the mean row: the mutual information
between current and next state when the current state is set by a uniform intervention (maximum
entropy perturbation, PNAS 110, 19790, eq. 1).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from axionlab.errors import InputError


def effective_information(tpm: ArrayLike) -> float:
    """Effective information (bits) of a state-by-state TPM.

    Parameters
    ----------
    tpm : (N, N) array
        ``tpm[s, s']`` the probability of next state ``s'`` from current state ``s``; rows sum to 1.

    Returns
    -------
    float
        ``EI`` in bits; ``log2 N`` for a permutation, 0 when every row is the same.

    Raises
    ------
    InputError
        Not square, entries outside [0, 1], or rows not summing to 1.
    """
    t = np.asarray(tpm, dtype=np.float64)
    if t.ndim != 2 or t.shape[0] != t.shape[1] or t.shape[0] == 0:
        raise InputError(f"tpm must be a non-empty square state-by-state matrix, got {t.shape}")
    if not np.all(np.isfinite(t)) or t.min() < 0 or t.max() > 1:
        raise InputError("tpm entries must be probabilities in [0, 1]")
    if not np.allclose(t.sum(axis=1), 1.0, atol=1e-9):
        raise InputError("tpm rows must sum to 1 (row = current state, column = next state)")
    mean_row = t.mean(axis=0)
    safe = np.where(t > 0, t, 1.0)
    # 0 log 0 = 0; where t > 0 the mean row is positive too
    kl = np.sum(
        np.where(t > 0, t * np.log2(safe / np.where(mean_row > 0, mean_row, 1.0)), 0.0), axis=1
    )
    return float(kl.mean())
