"""One module per tracker provider; see api/trackers/registry.py."""
