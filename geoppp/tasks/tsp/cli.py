"""The ``geoppp tsp`` commands: ``solve FILE`` and ``eval``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from geoppp.tasks.tsp.settings import SolveConfig

# The commands import torch and the task's modules when they run, so that building the
# command line (`geoppp --help`, every other command) does not load them.


def add_commands(commands: Any) -> None:
    """Add ``tsp solve`` and ``tsp eval`` to the ``geoppp`` subcommands (argparse's
    subparsers object)."""
    tsp = commands.add_parser("tsp", help="travelling salesman through a tour-image prior")
    actions = tsp.add_subparsers(required=True, metavar="ACTION")

    solver = actions.add_parser(
        "solve", help="solve a CSV of x,y coordinates or a TSPLIB .tsp file; print the tour"
    )
    solver.add_argument("file", type=Path, help="CSV (x,y per row) or TSPLIB file")
    _add_search_options(solver, steps=256, seed=0)
    solver.set_defaults(handler=_solve)

    evaluator = actions.add_parser(
        "eval", help="compare the prior with baselines on random instances; print a table"
    )
    evaluator.add_argument("--n", type=int, default=50, help="nodes per instance")
    evaluator.add_argument("--instances", type=int, default=20, help="random instances")
    evaluator.add_argument("--batch", type=int, default=20, help="instances per batch")
    evaluator.add_argument("--no-prior", action="store_true", help="baselines only")
    # Seed 0 drew the prior's training instances: evaluate on others by default.
    _add_search_options(evaluator, steps=128, seed=1000)
    evaluator.set_defaults(handler=_eval)


def _add_search_options(parser: argparse.ArgumentParser, steps: int, seed: int) -> None:
    parser.add_argument("--prior", type=Path, help="TSP prior (default: the shipped TSP-50)")
    parser.add_argument("--steps", type=int, default=steps, help="optimiser steps")
    parser.add_argument("--lr", type=float, default=SolveConfig().lr, help="Adam step on L")
    parser.add_argument(
        "--init",
        choices=("random", "distances"),
        default=SolveConfig().init,
        help="L at step 0: random (the reference) or from distances",
    )
    parser.add_argument("--seed", type=int, default=seed, help="seeds instances and search")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _config(arguments: argparse.Namespace) -> SolveConfig:
    return SolveConfig(steps=arguments.steps, lr=arguments.lr, init=arguments.init)


def _solve(arguments: argparse.Namespace) -> int:
    import torch

    from geoppp.tasks.tsp.solve import load_prior, solve_instance

    torch.set_num_threads(arguments.threads)
    solved = solve_instance(
        arguments.file,
        load_prior(arguments.prior),
        _config(arguments),
        arguments.seed,
        progress=not arguments.no_progress,
    )
    print(f"instance {solved.name}: {len(solved.tour)} nodes, {solved.rule} distances")
    print("tour (1-based node numbers, in file order):", " ".join(str(i + 1) for i in solved.tour))
    print(f"length {solved.length:g} (diffusion + greedy decode + 2-opt)")
    print(f"fast-tsp reference length {solved.reference_length:g}; gap {100 * solved.gap:.2f} %")
    return 0


def _eval(arguments: argparse.Namespace) -> int:
    import torch

    from geoppp.tasks.tsp.evaluation import evaluate, format_table
    from geoppp.tasks.tsp.solve import load_prior

    torch.set_num_threads(arguments.threads)
    prior = None if arguments.no_prior else load_prior(arguments.prior)
    config = _config(arguments)
    rows = evaluate(
        arguments.n,
        arguments.instances,
        arguments.seed,
        prior,
        config,
        batch_size=arguments.batch,
        progress=not arguments.no_progress,
    )
    source = "none" if prior is None else f"{prior.path.name} (step {prior.step})"
    title = (
        f"TSP-{arguments.n}, {arguments.instances} random instances (seed {arguments.seed}); "
        f"prior {source}, {config.steps} steps, lr {config.lr}, init {config.init}"
    )
    print(format_table(rows, title))
    return 0
