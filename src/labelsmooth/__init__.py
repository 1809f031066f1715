"""Reproduction lab for output regularisers: LS, GLS, confidence penalty, KD and temperature scaling."""

import os

# Huge pages for torch's CPU tensors of 2 MB or more (c10 reads this once, at torch's first allocation, so
# it is set here, before any module of the package imports torch). A training step allocates its large
# tensors afresh, the word embedding's 47 MB dense gradient for one, and the kernel faults their pages in
# 4 KB at a time; with huge pages the zero fills took 5-12 instead of 19-22 ms per MiniLM step on one
# thread (on the sweep's two, no difference shows end to end: docs/performance.md). Memory layout only:
# the arithmetic and its digits are the same. A value set by the user (THP_MEM_ALLOC_ENABLE=0) is kept.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

from labelsmooth.config.resolvers import register as _register_resolvers  # noqa: E402

_register_resolvers()
