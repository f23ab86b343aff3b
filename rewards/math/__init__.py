"""Math answer verification: extraction, normalisation, sympy equivalence in a worker pool."""
