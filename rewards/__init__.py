"""Outcome verifiers, step-level rewards, process reward models and their combination."""
