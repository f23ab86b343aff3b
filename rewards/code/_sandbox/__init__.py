"""Files that run inside the code sandbox (standard library only; loaded by path, never imported
by the host). See rewards/code/sandbox.py for the host side."""
