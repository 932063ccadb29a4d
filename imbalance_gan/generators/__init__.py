"""Generators: what every family shares (honest selection, quality and copy metrics, the cache,
filtering, the train -> select -> sample pipeline) and one sub-package per family.

A family is one module plus one config file of the ``gan`` group: the config names the family
(``gan.family``, see :mod:`imbalance_gan.generators.family`) and the family builds a Lightning
module that can ``sample`` images of given classes. ``gan/`` holds the GANs, ``diffusion/``
the diffusion model.
"""
