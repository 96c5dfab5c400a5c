"""The travelling-salesman reference task: a DDPM trained on 64 × 64 images of good tours,
used as a plug-and-play prior over a relaxed adjacency matrix (Graikos et al. 2022, § 4.3).

Modules, from the bottom up: ``instances`` (coordinates, TSPLIB and CSV files, distances),
``reference`` (fast-tsp tours), ``render`` (tour images), ``local_search`` (2-opt, Or-opt,
constructive baselines), ``decode`` (weights to a Hamiltonian cycle), ``images`` (the
training source), ``solve`` (inference through the prior), ``evaluation``, ``pipeline`` and
``cli``.
"""
