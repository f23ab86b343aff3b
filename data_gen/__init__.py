"""Rule-based synthetic reasoning problems with verified answers and checkable steps."""
