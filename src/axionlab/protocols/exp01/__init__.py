"""EXP-01, forgetting vs loss-landscape topology: config, protocol, analysis and report."""
