"""Test doubles: a fake ``tensorrt`` module (`fakes.fake_tensorrt`) and a Hugging Face Hub look-alike (`fakes.hub_server`).

Imported as ``fakes.*``, the way the tests import tests/clips.py as ``clips``: tests/ is not a package, so pytest's
default ``prepend`` import mode puts it (the folder of tests/conftest.py and of every test module) on sys.path.
"""
