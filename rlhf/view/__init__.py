"""`cotrl view`: a read-only local web panel over run directories, live while they train.

runs.py    which directories are runs, reading their logs from a byte offset, thresholds, evaluations
server.py  the FastAPI app: JSON routes, the page, plotly.js from the plotly wheel (works offline)
static/    the page itself (index.html, panel.js, panel.css)
"""
