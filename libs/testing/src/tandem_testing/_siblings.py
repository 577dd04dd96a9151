"""A helper module beside a test, loaded by path.

The suite imports test modules in importlib mode, and a service's folder (``staffing-sync``)
is no Python name: a test's sibling helper module cannot be imported by name, and making its
folder a package (``integration``) would clash with another service's under mypy. So it is
loaded from its file, once per session, and shared by every test that asks for it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["sibling_module"]


def sibling_module(test_file: str, file_name: str, name: str) -> ModuleType:
    """The module in ``file_name`` beside ``test_file``, loaded once as ``name``."""
    if name not in sys.modules:
        path = Path(test_file).with_name(file_name)
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"no module can be loaded from {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
