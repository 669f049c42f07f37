"""Shared setup of the detplug-coco tests: the helper module beside them
(``coco_mask_fixtures``) is importable when pytest runs from the repository root
(``--import-mode=importlib`` puts no test folder on sys.path; this plugin's own
pyproject does it only when pytest runs from its folder)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
