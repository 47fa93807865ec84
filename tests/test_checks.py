"""The shared argument checks: boundaries, types, the did-you-mean hint and named fields."""

from __future__ import annotations

import math

import numpy as np
import pytest

from axionlab.checks import (
    as_matrix,
    as_vector,
    check_choice,
    check_count,
    check_finite,
    check_fraction,
    check_non_negative,
    check_optional_count,
    check_positive,
    check_probability,
    check_same_length,
)
from axionlab.errors import ConfigError, InputError

SCENARIOS = ("class_il", "task_il", "domain_il")


def test_choice_accepts_each_choice_and_returns_it():
    for scenario in SCENARIOS:
        assert check_choice("scenario", scenario, SCENARIOS) == scenario


def test_choice_names_field_value_choices_and_suggests_a_near_miss():
    with pytest.raises(InputError) as info:
        check_choice("scenario", "clas_il", SCENARIOS)
    assert str(info.value) == (
        "scenario must be one of 'class_il', 'task_il', 'domain_il'; got 'clas_il'. "
        "Did you mean 'class_il'?"
    )


def test_choice_without_a_close_match_has_no_hint():
    with pytest.raises(InputError) as info:
        check_choice("scenario", "xyz", SCENARIOS)
    message = str(info.value)
    assert message == "scenario must be one of 'class_il', 'task_il', 'domain_il'; got 'xyz'"
    assert "Did you mean" not in message


def test_choice_refuses_a_non_string_and_raises_the_requested_error():
    with pytest.raises(ConfigError, match=r"block must be one of 'basic', 'bottleneck'; got None"):
        check_choice("block", None, ("basic", "bottleneck"), error=ConfigError)  # type: ignore[type-var]


def test_every_error_class_is_the_callers():
    for check in (check_count, check_finite, check_positive, check_probability, check_fraction):
        with pytest.raises(ConfigError):
            check("x", math.nan, error=ConfigError)


def test_count_boundaries_and_types():
    assert check_count("n", 0) == 0
    assert check_count("n", 1, minimum=1) == 1
    assert check_count("n", 3, minimum=1, maximum=3) == 3
    assert check_count("n", np.int64(5), minimum=1) == 5
    assert type(check_count("n", np.int32(5))) is int
    with pytest.raises(InputError, match=r"^n must be an integer >= 1, got 0$"):
        check_count("n", 0, minimum=1)
    with pytest.raises(InputError, match=r"^n must be an integer in \[1, 3\], got 4$"):
        check_count("n", 4, minimum=1, maximum=3)
    with pytest.raises(InputError, match=r"^n must be an integer >= 0, got -1$"):
        check_count("n", -1)


@pytest.mark.parametrize("value", [True, False, np.bool_(True), 3.0, "3", None, np.float64(2.0)])
def test_count_refuses_bools_floats_and_strings(value):
    with pytest.raises(InputError, match=r"^k must be an integer >= 0, got "):
        check_count("k", value)


def test_optional_count_passes_none_and_checks_the_rest():
    assert check_optional_count("batch_size", None, minimum=1) is None
    assert check_optional_count("batch_size", 1, minimum=1) == 1
    with pytest.raises(InputError, match=r"^batch_size must be None or an integer >= 1, got 0$"):
        check_optional_count("batch_size", 0, minimum=1)
    with pytest.raises(InputError, match="got True"):
        check_optional_count("batch_size", True, minimum=1)


def test_finite_accepts_numbers_and_refuses_nan_inf_bool_and_strings():
    assert check_finite("x", 0) == 0.0
    assert check_finite("x", -1e308) == -1e308
    assert check_finite("x", np.float32(1.5)) == 1.5
    assert type(check_finite("x", np.float64(2.0))) is float
    for bad in (math.nan, math.inf, -math.inf, np.float64("nan"), True, "1.0", None):
        with pytest.raises(InputError, match=r"^x must be a finite number, got "):
            check_finite("x", bad)  # type: ignore[arg-type]


def test_positive_boundary():
    assert check_positive("lr", 5e-324) == 5e-324
    assert check_positive("lr", np.float64(1.0)) == 1.0
    for bad in (0, 0.0, -1.0, math.inf, math.nan, True):
        with pytest.raises(InputError, match=r"^lr must be positive and finite, got "):
            check_positive("lr", bad)


def test_non_negative_boundary():
    assert check_non_negative("weight_decay", 0.0) == 0.0
    assert check_non_negative("weight_decay", np.int64(0)) == 0.0
    for bad in (-1e-12, math.inf, math.nan, False):
        with pytest.raises(InputError, match=r"^weight_decay must be non-negative and finite"):
            check_non_negative("weight_decay", bad)


def test_probability_is_closed_on_both_ends():
    assert check_probability("p", 0) == 0.0
    assert check_probability("p", 1) == 1.0
    assert check_probability("p", np.float32(0.5)) == 0.5
    for bad in (-1e-12, 1 + 1e-12, math.nan, math.inf, True, "0.5"):
        with pytest.raises(InputError, match=r"^p must be in \[0, 1\], got "):
            check_probability("p", bad)  # type: ignore[arg-type]


def test_fraction_is_open_on_both_ends():
    assert check_fraction("ci", 1e-12) == 1e-12
    assert check_fraction("ci", 1 - 1e-12) == 1 - 1e-12
    assert check_fraction("ci", np.float64(0.95)) == 0.95
    for bad in (0, 0.0, 1, 1.0, math.nan, False, "0.2"):
        with pytest.raises(InputError, match=r"^ci must be in \(0, 1\), got "):
            check_fraction("ci", bad)  # type: ignore[arg-type]


def test_as_vector_copies_to_float64_and_names_the_field():
    source = [1, 2, 3]
    v = as_vector("values", source)
    assert v.dtype == np.float64 and v.shape == (3,)
    array = np.arange(3.0)
    assert as_vector("values", array) is not array
    with pytest.raises(InputError, match=r"^values must be 1-D, got shape \(2, 2\)$"):
        as_vector("values", np.zeros((2, 2)))
    with pytest.raises(InputError, match=r"^values must be numeric, got str$"):
        as_vector("values", "abc")


def test_as_matrix_shapes_and_errors_name_the_field():
    assert as_matrix("predictors", [1.0, 2.0]).shape == (2, 1)
    assert as_matrix("predictors", np.zeros((4, 3)), n_rows=4).shape == (4, 3)
    with pytest.raises(InputError, match=r"^predictors must be 1-D or 2-D, got shape \(2, 2, 2\)$"):
        as_matrix("predictors", np.zeros((2, 2, 2)))
    with pytest.raises(InputError, match=r"^covariates must have 5 rows, got 4$"):
        as_matrix("covariates", np.zeros((4, 2)), n_rows=5)
    with pytest.raises(InputError, match=r"^baseline must be numeric, got dict$"):
        as_matrix("baseline", {"a": 1})


def test_same_length_returns_it_or_names_every_input():
    assert check_same_length(x=np.zeros(3), y=np.ones(3)) == 3
    with pytest.raises(InputError, match=r"^inputs must have the same length, got x=3, y=2$"):
        check_same_length(x=np.zeros(3), y=np.zeros(2))
