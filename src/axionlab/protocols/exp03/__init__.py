"""EXP-03, integrated information vs generalization and robustness: config, protocol, analysis."""
