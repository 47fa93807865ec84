"""Datasets behind a registry, plus class splits and continual-learning streams.

>>> ds = load_dataset("digits", seed=0)
>>> ds.input_shape, ds.num_classes
((1, 8, 8), 10)
"""

from axionlab.data import corpora as corpora
from axionlab.data import files as files
from axionlab.data import generated as generated
from axionlab.data.core import DATASETS, Dataset, load_dataset, make_dataset
from axionlab.data.splits import Task, class_subset, make_stream, random_subset, split_classes
from axionlab.data.text import (
    TextDomain,
    TextSplit,
    TextTasks,
    TextTokenizer,
    load_text_domain,
    load_text_tasks,
    load_tokenizer,
)

__all__ = [
    "DATASETS",
    "Dataset",
    "Task",
    "TextDomain",
    "TextSplit",
    "TextTasks",
    "TextTokenizer",
    "class_subset",
    "load_dataset",
    "load_text_domain",
    "load_text_tasks",
    "load_tokenizer",
    "make_dataset",
    "make_stream",
    "random_subset",
    "split_classes",
]
