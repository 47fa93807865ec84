"""EXP-04, noisy quantum sequences under repeated operators: config, protocol, analysis, report."""
