"""Datasets behind a registry, plus class splits and continual-learning streams.

>>> ds = load_dataset("digits", seed=0)
>>> ds.input_shape, ds.num_classes
((1, 8, 8), 10)
"""

from axionlab.data import files as files
from axionlab.data import generated as generated
from axionlab.data.core import DATASETS, Dataset, load_dataset, make_dataset
from axionlab.data.splits import Task, class_subset, make_stream, random_subset, split_classes

__all__ = [
    "DATASETS",
    "Dataset",
    "Task",
    "class_subset",
    "load_dataset",
    "make_dataset",
    "make_stream",
    "random_subset",
    "split_classes",
]
