import os
import sys

# Test helper modules (federation.py, ...) import as top-level modules.
sys.path.insert(0, os.path.dirname(__file__))
