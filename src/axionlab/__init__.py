"""axionlab: reproducible experiments on how network structure shapes learning and forgetting."""

__version__ = "0.1.0"
