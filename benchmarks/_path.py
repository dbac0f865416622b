"""Imported first by each benchmark: makes `python benchmarks/<script>.py` use the lorabook
next to this folder, installed or not."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
