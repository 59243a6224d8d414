"""fairkit: fairness-aware training, Pareto frontiers and decision records.

The engine never imports streamlit; the dashboard (``app.py``) is built on top of it.
"""

__version__ = "0.1.0"
