"""The Kconfig model: real Linux trees read exactly as the kernel's own tools read them.

Public surface: ``load_tree`` returns a ``Tree``; see ``model`` for what it offers,
``why`` for explanations, ``compat`` for the syntax kconfiglib 14.1.0 lacks, ``cache``
for the parse cache and ``env`` for the environment Linux's Kconfig expects.
"""

from ukl_tui.kconfig.model import Change, SearchHit, SetResult, Tree, find_srctree, load_tree
from ukl_tui.kconfig.why import Explanation, Term

__all__ = [
    "Change",
    "Explanation",
    "SearchHit",
    "SetResult",
    "Term",
    "Tree",
    "find_srctree",
    "load_tree",
]
