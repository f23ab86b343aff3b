"""Code verification: tests and stdio cases run in the hardened local sandbox."""
