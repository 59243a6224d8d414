"""Shared set-up for AppTest tests of the dashboard."""
