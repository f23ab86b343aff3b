"""The CPU demo pipeline (`python -m rlhf.demo`) and its report."""
