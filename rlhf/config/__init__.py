"""Recipes: the schema (`recipe`, `supervised`), the strict YAML loader (`loader`) and what each
trainer declares it reads (`reads`)."""
