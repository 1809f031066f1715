"""Reproduction lab for output regularisers: LS, GLS, confidence penalty, KD and temperature scaling."""

from labelsmooth.config.resolvers import register as _register_resolvers

_register_resolvers()
