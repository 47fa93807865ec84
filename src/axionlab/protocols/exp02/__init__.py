"""EXP-02, information capacity (area law vs volume law): config, protocol, analysis and report."""
