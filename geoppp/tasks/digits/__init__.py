"""Reference task: conditional generation of handwritten digits with a DDPM prior and
differentiable constraints (the first experiment of Graikos et al. 2022).

Modules: ``data`` (the digits and their split), ``classifier`` (the small CNNs), ``constraints``
(log c for a target class, symmetry, inpainting), ``generation`` (plug-and-play and the
baselines), ``metrics``, ``config`` / ``pipeline`` (YAML), ``cli``.
"""
