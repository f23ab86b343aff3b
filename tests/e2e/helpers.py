"""User-code components named from recipes in these tests (`package.module:attr`)."""

from __future__ import annotations


class AcceptAll:
    """An outcome reward accepting every completion: exercises distillation's plumbing with a random teacher."""

    name = "accept_all"

    def __call__(self, problems, completions):
        return [1.0 for _ in completions]


def accept_all(**_):
    return AcceptAll()
