"""Command line: `python -m lorabook COMMAND [--help]`.

    tour        run the headline experiments: print a results table, write the figures
    figures     rewrite every PNG in figures/ and the README's results block (fixed seeds)
    notebooks   re-execute notebooks in place from fresh kernels, in order
    classroom   serve the rank-selection demo as a web app for a projector (Ctrl-C stops it)
    exercises   regenerate the student versions of the exercise sheets (needs nbgrader)

Every command works from any folder: those that read or write the
repository's files (figures/, README.md, notebooks/) find the repository
this package belongs to (lorabook.paths.find_root), or take --root.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .notebook_runner import NotebookExecutionError
from .paths import RepositoryNotFound, find_root

QUICK_SECONDS = 3  # measured: `python -m lorabook tour --quick --no-progress` takes about this long


class _CommandListFormatter(argparse.HelpFormatter):
    """Leaves room for the longest command name, so that each command's description stays on its line
    (argparse measures only the top-level options, and would start "notebooks"' description below it)."""

    def __init__(self, prog):
        super().__init__(prog, max_help_position=20, width=110)
        self._action_max_length = 18


def _common_options():
    """Options every subcommand accepts."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", metavar="DIR", default=None,
                        help="the lorabook repository to use (default: the one this package belongs to, "
                             "else the current folder or one above it)")
    common.add_argument("--no-progress", action="store_true", help="hide progress bars and per-item lines")
    return common


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m lorabook", description="lorabook's commands. Each works from any folder: it finds the "
        "repository this package belongs to, or takes --root.",
        epilog="Run `python -m lorabook COMMAND --help` for a command's options and defaults.",
        formatter_class=_CommandListFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = [_common_options()]

    def add(name, summary):
        sub = commands.add_parser(name, help=summary, description=summary, parents=common)
        sub.set_defaults(parser=sub)
        return sub

    tour = add("tour", "run the headline experiments: print the results table, write the figures")
    tour.add_argument("--quick", action="store_true",
                      help=f"a smaller run (3 ranks, fewer steps; about {QUICK_SECONDS} s); writes no figures "
                           "unless --figures-dir is given")
    tour.add_argument("--figures-dir", metavar="DIR", default=None,
                      help="where to write the figures (default: the repository's figures/ for a full run, "
                           "none for --quick)")

    figures = add("figures", "rewrite every PNG in figures/ and the README's results block (fixed seeds)")
    figures.add_argument("--out", metavar="DIR", default=None, help="folder for the PNGs (default: the repository's "
                                                                    "figures/)")
    figures.add_argument("--readme", metavar="FILE", default=None,
                         help="README whose results block is rewritten (default: the repository's README.md)")

    notebooks = add("notebooks", "re-execute notebooks in place from fresh kernels, in order")
    notebooks.add_argument("paths", nargs="*", metavar="NOTEBOOK",
                           help="notebook paths to run (default: the repository's notebooks/*.ipynb, in name order)")
    notebooks.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default: %(default)s)")

    classroom = add("classroom", "serve the rank-selection demo as a web app for a projector (Ctrl-C stops)")
    classroom.add_argument("--port", type=int, default=8866,
                           help="port on 127.0.0.1 (default: %(default)s, or the next free one)")
    classroom.add_argument("--open", action="store_true", help="also open the app in a web browser")

    exercises = add("exercises", "write the student versions of the exercise sheets (needs nbgrader)")
    exercises.add_argument("paths", nargs="*", metavar="SHEET",
                           help="source sheets (default: the repository's notebooks/exercises/*.ipynb)")
    exercises.add_argument("--out", metavar="DIR", default=None,
                           help="where to write them (default: the repository's notebooks/exercises/student/)")
    return parser


def parse(argv=None):
    """Parse the command line; mistakes are reported with the subcommand's own usage (exit status 2)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv=None):
    args = parse(argv)
    # One BLAS thread, as in the tests and the notebook kernels: the matrices
    # here are small, a second thread gains nothing (and on a busy machine the
    # threads fight), and the last digits of results depend on the thread count.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        try:
            return run_command(args)
        except RepositoryNotFound as error:
            args.parser.error(str(error))
        except NotebookExecutionError as error:  # the failing cells are named; a traceback would add nothing
            print(f"error: {error}", file=sys.stderr)
            return 1


def _root(args):
    return find_root(args.root)


def _existing_files(parser, paths, folder=None):
    """The given paths as Paths, each as given or else inside `folder` (a Path or None).

    A file found in neither place ends the command with its name and the usage.
    """
    found, missing = [], []
    for name in paths:
        candidates = [Path(name)] + ([folder / name] if folder is not None else [])
        match = next((c for c in candidates if c.is_file()), None)
        (found if match else missing).append(match or name)
    if missing:
        where = f" (nor in {folder})" if folder is not None else ""
        parser.error(f"not found: {', '.join(missing)}{where}")
    return found


def _repository_folder(args, *parts):
    """root/parts of the repository, or None when there is no repository to look in."""
    try:
        return _root(args).joinpath(*parts)
    except RepositoryNotFound:
        return None


def run_command(args):
    progress = not args.no_progress
    if args.command == "tour":
        from .tour import run_tour

        figures_dir = args.figures_dir
        if figures_dir is None and not args.quick:
            try:
                figures_dir = _root(args) / "figures"
            except RepositoryNotFound as error:
                print(f"No figures will be written ({error}; or give --figures-dir DIR).\n")
        run_tour(quick=args.quick, progress=progress, figures_dir=None if figures_dir is None else str(figures_dir))
    elif args.command == "figures":
        from .figures import make_figures

        if args.out is None or args.readme is None:
            root = _root(args)
        out = args.out if args.out is not None else root / "figures"
        readme = args.readme if args.readme is not None else root / "README.md"
        make_figures(str(out), readme=str(readme), progress=progress)
    elif args.command == "notebooks":
        from .notebook_runner import run_notebooks

        if args.paths:
            paths = _existing_files(args.parser, args.paths, _repository_folder(args, "notebooks"))
        else:
            paths = sorted((_root(args) / "notebooks").glob("*.ipynb"))
        run_notebooks(paths, timeout=args.timeout, verbose=progress)
    elif args.command == "classroom":
        from .classroom.launcher import serve

        serve(port=args.port, open_browser=args.open)
    elif args.command == "exercises":
        from .exercises import write_student_versions

        if args.paths:
            sources = _existing_files(args.parser, args.paths, _repository_folder(args, "notebooks", "exercises"))
        else:
            sources = sorted((_root(args) / "notebooks" / "exercises").glob("*.ipynb"))
        out = Path(args.out) if args.out is not None else _root(args) / "notebooks" / "exercises" / "student"
        write_student_versions(sources, out_dir=out, verbose=progress)
    return 0


if __name__ == "__main__":
    sys.exit(main())
