"""Runnable end-to-end examples on real data that ships with installed packages."""
