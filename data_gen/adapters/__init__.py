"""Adapters that draw problems from other generators into the item schema."""
