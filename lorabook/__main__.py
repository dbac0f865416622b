"""Command line: `python -m lorabook {tour,figures,notebooks} [--help]`.

    tour        the headline experiments: prints a results table, writes figures
    figures     regenerate every PNG in figures/ and the README results block, from fixed seeds
    notebooks   re-execute every notebook in notebooks/ in place, in order
"""
from __future__ import annotations

import argparse
import sys


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m lorabook", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="{tour,figures,notebooks}")

    tour = commands.add_parser("tour", help="run the headline experiments, print a table, write figures")
    tour.add_argument("--quick", action="store_true", help="smaller run, under a minute")
    tour.add_argument("--no-progress", action="store_true", help="hide progress bars")
    tour.add_argument("--figures-dir", default=None, help="where to write figures (default: ./figures if it exists, but none for --quick)")

    figures = commands.add_parser(
        "figures", help="regenerate every PNG in figures/ and the README results block, from fixed seeds")
    figures.add_argument("--out", default="figures", help="output folder (default: figures)")

    notebooks = commands.add_parser("notebooks", help="re-execute notebooks in place from a fresh kernel")
    notebooks.add_argument("paths", nargs="*", help="notebooks to run (default: notebooks/*.ipynb, in order)")
    notebooks.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    # One BLAS thread, as in the tests and the notebook kernels: the matrices
    # here are small, a second thread gains nothing (and on a busy machine the
    # threads fight), and the last digits of results depend on the thread count.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return run_command(args)


def run_command(args):
    if args.command == "tour":
        from .tour import run_tour

        run_tour(quick=args.quick, progress=not args.no_progress, figures_dir=args.figures_dir)
    elif args.command == "figures":
        from .figures import make_figures

        make_figures(args.out)
    elif args.command == "notebooks":
        from .notebook_runner import run_notebooks

        run_notebooks(args.paths or None, timeout=args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
