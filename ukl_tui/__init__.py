"""ukl-tui: from a Unikernel Linux checkout to a booted unikernel, without menuconfig.

The package is split so that everything a script or CI needs (``kconfig``, ``presets``,
``rules``, ``plan``, ``runner`` ...) works without a terminal; ``app`` and ``screens`` are a
thin Textual face over the same core.
"""

__version__ = "0.1.0"
