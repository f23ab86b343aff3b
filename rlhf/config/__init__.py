"""Recipes: the schema (`recipe`) and the strict YAML loader (`loader`)."""
