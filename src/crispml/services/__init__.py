"""Use cases: one transaction each, with a performance record per call."""
