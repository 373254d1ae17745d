"""Shipped ukl-tui presets (TOML data files; the code that reads them is ukl_tui/presets.py)."""
