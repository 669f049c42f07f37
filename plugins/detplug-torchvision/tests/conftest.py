"""pytest runs with --import-mode=importlib, which does not put test folders on sys.path:
the helper module beside these tests is made importable here."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
