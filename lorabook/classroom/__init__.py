"""The classroom app: notebook 06's rank-selection demo as a web page for a projector.

    python -m lorabook classroom          # prints http://127.0.0.1:8866/ ; Ctrl-C stops it

launcher.serve starts Voila on app.ipynb, a one-cell notebook that calls
app.build_app(); Voila runs it on a kernel and shows only the widgets, no
code. build_app lays out the controls and the figure; each control change
calls the plain functions of lorabook.widgets (the ones the tests and
notebook 06 call) and lorabook.plots draws the result in projector sizes.
"""
from .app import build_app
from .launcher import serve

__all__ = ["build_app", "serve"]
