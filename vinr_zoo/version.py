"""The package version and the library name the Hub and model cards use (one place for both)."""

__version__ = "0.1.0"
LIBRARY_NAME = "vinr-zoo"
