"""vinr-zoo's embedded model zoo (package data): model directories and registry.json. See vinr_zoo/zoo.py."""
