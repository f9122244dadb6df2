"""Storage adapters: the database, the artifact folder, data sources and model formats."""
