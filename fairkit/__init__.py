"""fairkit: fairness-aware training, Pareto frontiers and decision records.

The engine never imports streamlit; the dashboard (``app.py``) is built on top of it.
"""

#: Raised with every change to what fairkit stores or reads back (results revision, bundle, run
#: and model-state formats, the audit log's schema): pip upgrades an installed fairkit only to a
#: higher version, and "0.1.0" through every such change kept the old code installed (upgrade
#: audit, session 48). ``tests/test_packaging.py`` ties each version to its formats.
__version__ = "0.3.3"
