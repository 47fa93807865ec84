"""HuggingFace libraries imported with the hub forced offline (shared by models and data).

``transformers`` and ``tokenizers`` belong to the optional ``hf`` extra, so they are imported on
first use, never when ``axionlab`` is imported. Before that import, ``HF_HUB_OFFLINE`` and
``TRANSFORMERS_OFFLINE`` are set, and the hub's offline flag is forced too in case
``huggingface_hub`` was imported earlier (it reads the environment once): with it, any HTTP
request through the hub raises instead of reaching the network. Callers still pass
``local_files_only=True`` to every ``from_pretrained``.
"""

from __future__ import annotations

import os
from types import ModuleType

from axionlab.errors import ConfigError

INSTALL_HINT = "pip install -c constraints.txt -e '.[hf]'"


def import_transformers() -> ModuleType:
    """``transformers``, imported with the hub forced offline.

    Raises
    ------
    ConfigError
        The ``hf`` extra is not installed.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    try:
        import huggingface_hub.constants as hub_constants
        import transformers
    except ImportError:
        raise ConfigError(
            f"HuggingFace models and text data need the hf extra: {INSTALL_HINT}"
        ) from None
    hub_constants.HF_HUB_OFFLINE = True
    return transformers
