"""Reproduction lab for output regularisers (label smoothing, GLS, confidence penalty, KD, temperature scaling)."""

from labelsmooth.resolvers import register as _register_resolvers

_register_resolvers()
