"""Streamlit glue shared by the dashboard pages.

Everything that imports streamlit and is used by more than one page lives here: session-state
keys (:mod:`ui.state`), cached wrappers around the engine (:mod:`ui.data`), widgets that build
engine inputs (:mod:`ui.controls`) and safe display helpers (:mod:`ui.display`). The engine in
``fairkit/`` never imports this package.
"""
