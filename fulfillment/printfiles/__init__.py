"""Print files: design templates rendered with the buyer's personalisation.

The engine (spec, fonts, loading, render, output, pngfast) is pure Pillow and
knows nothing of Django; `services.py`, `selectors.py` and `views.py` are the
Django side. Why a package inside `fulfillment`: see docs/print-files.md.
"""
