"""Placement & scaling optimizer: candidates, (C, L, R) models, exact Pareto search."""
