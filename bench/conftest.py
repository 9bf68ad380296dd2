"""Benchmarks: run with `python -m pytest bench` (see README, Performance)."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
