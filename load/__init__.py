"""Load tests: the Locust file, the k6 script, and `make load` (python -m load.run)."""
