"""Binary networks for exact Φ: TPMs from small recurrent nets and TPM format conversions.

State-by-node TPMs follow PyPhi: shape ``(2^n, n)``, row ``Σ_i s_i 2^i`` (little-endian), entry
``[s, j]`` the probability that node ``j`` is ON at ``t+1`` given state ``s`` at ``t``; nodes are
conditionally independent given the past.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

from axionlab.checks import check_choice, check_positive
from axionlab.errors import InputError

Array = NDArray[np.float64]
MAX_BINARY_UNITS = 8
Activation = Literal["threshold", "sigmoid"]
ACTIVATIONS: tuple[Activation, ...] = get_args(Activation)


@dataclass(frozen=True)
class BinaryNetwork:
    """A state-by-node TPM with its connectivity matrix (``cm[i, j] = 1``: edge ``i → j``)."""

    tpm: Array
    cm: NDArray[np.int64]


def all_states(n: int) -> NDArray[np.int64]:
    """``(2^n, n)`` binary states in little-endian order (row ``Σ_i s_i 2^i``)."""
    return (np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1


def binarize_network(
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    activation: Activation = "threshold",
    levels: tuple[float, float] = (0.0, 1.0),
    threshold: float = 0.0,
    temperature: float = 1.0,
) -> BinaryNetwork:
    """State-by-node TPM of a recurrent net ``h_{t+1} = f(W h_t + b)`` with binary units.

    Each unit is OFF or ON, taking activation ``levels[0]`` or ``levels[1]`` (``(-1, 1)`` for tanh-
    or sign-units). ``threshold``: ON iff ``W h + b > threshold`` (deterministic); ``sigmoid``: ON
    with probability ``σ((W h + b − threshold) / temperature)``, units independent given the past.

    Parameters
    ----------
    weight : (n, n) array
        ``weight[j, i]`` the weight of unit ``i`` onto unit ``j`` (``torch.nn.Linear`` layout);
        ``n ≤ 8``.
    bias : (n,) array, optional
        Defaults to zeros.

    Returns
    -------
    BinaryNetwork
        ``tpm`` of shape ``(2^n, n)`` and ``cm = (weight.T != 0)``.

    Raises
    ------
    InputError
        Non-square or too large weights, a bias of the wrong length, equal levels or a
        non-positive temperature.
    """
    check_choice("activation", activation, ACTIVATIONS)
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1] or not 1 <= w.shape[0] <= MAX_BINARY_UNITS:
        raise InputError(
            f"weight must be square with 1..{MAX_BINARY_UNITS} units, got shape {w.shape}"
        )
    n = w.shape[0]
    b = np.zeros(n) if bias is None else np.asarray(bias, dtype=np.float64).reshape(-1)
    if b.shape != (n,):
        raise InputError(f"bias must have length {n}, got {b.shape[0]} values")
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
        raise InputError("weight and bias must be finite")
    off, on = levels
    if off == on:
        raise InputError(f"levels must differ, got {levels}")
    check_positive("temperature", temperature)
    h = np.where(all_states(n) == 1, on, off)  # (2^n, n)
    drive = h @ w.T + b - threshold
    if activation == "threshold":
        tpm = (drive > 0).astype(np.float64)
    else:
        tpm = 1.0 / (1.0 + np.exp(-drive / temperature))
    return BinaryNetwork(tpm=tpm, cm=(w.T != 0).astype(np.int64))


def state_by_state(tpm: ArrayLike) -> Array:
    """``(2^n, 2^n)`` state-by-state TPM of a state-by-node TPM (conditionally independent nodes).

    Raises
    ------
    InputError
        ``tpm`` not of shape ``(2^n, n)`` or entries outside [0, 1].
    """
    t = np.asarray(tpm, dtype=np.float64)
    if t.ndim != 2 or t.shape[1] == 0 or t.shape[0] != 2 ** t.shape[1]:
        raise InputError(f"state-by-node tpm must have shape (2^n, n), got {t.shape}")
    if not np.all(np.isfinite(t)) or t.min() < 0 or t.max() > 1:
        raise InputError("tpm entries must be probabilities in [0, 1]")
    nxt = all_states(t.shape[1])  # (2^n, n)
    # P(s' | s) = Π_j p_j(s)^{s'_j} (1 − p_j(s))^{1 − s'_j}
    factors = np.where(nxt[None, :, :] == 1, t[:, None, :], 1.0 - t[:, None, :])
    return np.asarray(factors.prod(axis=2), dtype=np.float64)


def bits(mask: int) -> tuple[int, ...]:
    """Indices of the set bits of ``mask`` (node sets are bit masks in the IIT modules)."""
    return tuple(i for i in range(mask.bit_length()) if (mask >> i) & 1)


def validate_network(
    tpm: ArrayLike, state: Sequence[int], cm: ArrayLike | None, max_nodes: int
) -> tuple[Array, tuple[int, ...], NDArray[np.bool_]]:
    """A state-by-node TPM, a binary state and a connectivity matrix (all ones when ``None``)."""
    t = np.asarray(tpm, dtype=np.float64)
    if t.ndim != 2 or not 1 <= t.shape[1] <= max_nodes or t.shape[0] != 2 ** t.shape[1]:
        raise InputError(
            f"tpm must be state-by-node with shape (2^n, n), 1 ≤ n ≤ {max_nodes}, got {t.shape}"
        )
    if not np.all(np.isfinite(t)) or t.min() < 0 or t.max() > 1:
        raise InputError("tpm entries must be probabilities in [0, 1]")
    n = t.shape[1]
    try:
        s = tuple(int(v) for v in state)
    except (TypeError, ValueError):
        raise InputError(f"state must be {n} binary values, got {state!r}") from None
    if len(s) != n or any(v not in (0, 1) for v in s):
        raise InputError(f"state must be {n} binary values, got {tuple(state)}")
    if cm is None:
        return t, s, np.ones((n, n), dtype=bool)
    c = np.asarray(cm)
    if c.shape != (n, n) or not np.isin(c, (0, 1)).all():
        raise InputError(f"cm must be a binary ({n}, {n}) matrix, got shape {c.shape}")
    return t, s, c.astype(bool)


def background_rows(n: int, state: tuple[int, ...], nodes: tuple[int, ...]) -> NDArray[np.int64]:
    """TPM rows of every subsystem state with the external nodes at their current values."""
    base = sum(state[i] << i for i in range(n) if i not in nodes)
    return np.asarray(base + all_states(len(nodes)) @ (1 << np.array(nodes)), dtype=np.int64)


def subsystem_node_tpm(
    tpm: Array, state: tuple[int, ...], cm: NDArray[np.bool_], nodes: tuple[int, ...]
) -> Array:
    """``(k, 2^k)`` P(node ON next) per subsystem state: background fixed, non-inputs averaged.

    A node's inputs outside the subsystem are held at their current state; its non-inputs inside
    the subsystem are marginalised out uniformly (PyPhi's node TPMs).
    """
    k = len(nodes)
    node_tpm = tpm[background_rows(tpm.shape[1], state, nodes)][:, list(nodes)].T.copy()
    sub_cm = cm[np.ix_(nodes, nodes)]
    for j in range(k):
        off = tuple(k - 1 - i for i in range(k) if not sub_cm[i, j])
        if off:
            cube = node_tpm[j].reshape((2,) * k)
            node_tpm[j] = np.broadcast_to(cube.mean(axis=off, keepdims=True), cube.shape).ravel()
    return np.asarray(node_tpm, dtype=np.float64)
