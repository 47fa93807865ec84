import pytest
import torch

from axionlab.data import class_subset, load_dataset, make_stream, split_classes
from axionlab.errors import InputError


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0)


def test_class_subset_keeps_labels(digits):
    sub = class_subset(digits, [7, 3])
    assert sub.classes == (3, 7) and sub.num_classes == 10
    assert set(sub.y_train.tolist()) == {3, 7}
    assert len(sub.y_train) == int(((digits.y_train == 3) | (digits.y_train == 7)).sum())
    with pytest.raises(InputError, match=r"classes \[12\] are not in dataset 'digits'"):
        class_subset(digits, [12])


def test_split_classes_partitions(digits):
    a, b = split_classes(digits, 4)
    assert a.classes == (0, 1, 2, 3) and b.classes == (4, 5, 6, 7, 8, 9)
    assert len(a.y_train) + len(b.y_train) == len(digits.y_train)
    a, b = split_classes(digits, [9, 0])
    assert a.classes == (0, 9) and len(b.classes) == 8
    with pytest.raises(InputError, match=r"first must be in 1\.\.9"):
        split_classes(digits, 10)


@pytest.mark.parametrize("scenario", ["class_il", "task_il", "domain_il"])
def test_split_stream_covers_classes_once(digits, scenario):
    tasks = make_stream(digits, scenario, 5)
    assert [t.index for t in tasks] == list(range(5))
    assert sum(len(t.train[1]) for t in tasks) == len(digits.y_train)
    sources = [c for t in tasks for c in t.source_classes]
    assert sorted(sources) == list(range(10))
    for t in tasks:
        assert set(t.train[1].tolist()) == set(t.classes)
        if scenario == "domain_il":
            assert t.classes == (0, 1)
        else:
            assert t.classes == t.source_classes


def test_uneven_split_and_errors(digits):
    assert [len(t.classes) for t in make_stream(digits, "class_il", 3)] == [4, 3, 3]
    with pytest.raises(InputError, match="n_tasks=11 exceeds the 10 classes"):
        make_stream(digits, "class_il", 11)
    with pytest.raises(InputError, match="scenario must be"):
        make_stream(digits, "class-il", 2)  # type: ignore[arg-type]


def test_permuted_stream(digits):
    tasks = make_stream(digits, "class_il", 3, variant="permuted", seed=5)
    assert torch.equal(tasks[0].train[0], digits.x_train)
    x1 = tasks[1].train[0]
    assert not torch.equal(x1, digits.x_train)
    assert torch.equal(x1.flatten(1).sort(1).values, digits.x_train.flatten(1).sort(1).values)
    assert tasks[2].classes == tuple(range(20, 30))
    assert torch.equal(tasks[2].train[1], digits.y_train + 20)
    again = make_stream(digits, "class_il", 3, variant="permuted", seed=5)
    assert torch.equal(again[2].test[0], tasks[2].test[0])
    domain = make_stream(digits, "domain_il", 3, variant="permuted", seed=5)
    assert torch.equal(domain[2].train[1], digits.y_train)


def test_rotated_stream_by_quarter_turn(digits):
    tasks = make_stream(digits, "domain_il", 2, variant="rotated")
    assert torch.equal(tasks[0].test[0], digits.x_test)
    rotated = tasks[1].test[0]
    quarter = [torch.rot90(digits.x_test, k, dims=(2, 3)) for k in (1, -1)]
    assert min((rotated - q).abs().max().item() for q in quarter) < 1e-4
    synthetic = load_dataset("synthetic", n_train=20, n_test=20)
    with pytest.raises(InputError, match="variant 'rotated' needs image inputs"):
        make_stream(synthetic, "domain_il", 2, variant="rotated")
