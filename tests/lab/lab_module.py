"""tests/lab/lab_module.py -- bench/tricolor-lab, a script without a .py
suffix, loaded as the module `lab` for the tests in this folder:

    from lab_module import lab

(unittest discover -s tests/lab puts this folder on sys.path; so does
running a test file directly.)  Every test file gets the same module.
"""
import importlib.machinery
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_loader = importlib.machinery.SourceFileLoader(
    "tricolor_lab", str(ROOT / "bench" / "tricolor-lab"))
_spec = importlib.util.spec_from_loader("tricolor_lab", _loader)
lab = importlib.util.module_from_spec(_spec)
_loader.exec_module(lab)
