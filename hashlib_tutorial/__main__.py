"""Command line: python -m hashlib_tutorial {train, evaluate, encode, search, benchmark, checkpoints, reproduce, student, book, autograde} ...

Run ``python -m hashlib_tutorial <command> --help`` for each command's options. A mistake in the
input is one line on stderr that names the cause and the fix, with exit status 1 (2 for a bad
option); ``python -m hashlib_tutorial --debug <command> ...`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import warnings
from pathlib import Path


def _train(args) -> None:
    from .training.train import train

    names = {"dataset": args.dataset, "protocol": args.protocol, "epochs": args.epochs, "data_dir": args.data_dir,
             "device": args.device, "seed": args.seed, "batch_size": args.batch_size, "lr": args.lr,
             "input_features": args.input_features}
    if args.protocol is not None and args.dataset in ("folder", "list"):
        raise ValueError(f"the {args.dataset} dataset's files fix its splits: drop --protocol "
                         "(the protocols are for CIFAR-10)")
    overrides = {k: v for k, v in names.items() if v is not None}
    if args.attention is not None:
        overrides["attention"] = None if args.attention == "none" else args.attention
    overrides.update(args.set or [])
    train(args.method, args.bits, args.out, args.profile, resume=args.resume, overwrite=args.overwrite,
          progress=not args.quiet, command=_command(args.argv), **overrides)


def _evaluate(args) -> None:
    from .training.evaluate import evaluate_run, format_results

    report = evaluate_run(args.run_dir, progress=not args.json)
    print(json.dumps(report, indent=2) if args.json else format_results(report))


def _encode(args) -> None:
    from .search import encode_folder

    out = Path(args.out)
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; give a file name such as {out / 'codes.npz'}")
    if out.exists() and not args.overwrite:
        raise ValueError(f"--out {out} exists; pass --overwrite to replace it, or give another --out")
    n = encode_folder(args.run, args.images, out, bits=args.bits)
    print(f"wrote {n} codes to {out}")


def _search(args) -> None:
    from .search import search_image

    for rank, (distance, path) in enumerate(search_image(args.codes, args.query, args.k), start=1):
        print(f"{rank:3d}  d={distance:3d}  {path}")


def _benchmark(args) -> None:
    from .benchmark import format_benchmark, run_benchmark, write_benchmark

    if args.write and args.quick:
        raise ValueError("--write keeps the full benchmark only: drop --quick")
    report = run_benchmark(quick=args.quick)
    print(json.dumps(report, indent=2) if args.json else format_benchmark(report))
    if args.write:
        write_benchmark(report)


def _checkpoints(args) -> None:
    from .course import save_checkpoints

    save_checkpoints(retrain=args.retrain, command=_command(args.argv))


def _reproduce(args) -> None:
    from .report.reproduce import reproduce

    reproduce(args.profile, Path(args.out), methods=args.methods, data_dir=args.data_dir,
              command=_command(args.argv), commit=args.commit, train_missing=not args.no_train)


def _student(args) -> None:
    from .handout import write_student_edition

    written = write_student_edition(args.out and Path(args.out))
    print(f"wrote the student edition of {len(written)} notebooks to {written[0].parent if written else args.out}")


def _book(args) -> None:
    from .handout import build_book

    print(f"the course site: {build_book(args.out and Path(args.out))}")


def _autograde(args) -> None:
    from .handout import autograde, format_grades

    grades = autograde(Path(args.notebook), source=args.source, out=args.out)
    print(format_grades(grades, Path(args.notebook).name))


def _setting(text: str) -> tuple[str, object]:
    """FIELD=VALUE of ``--set``, VALUE read by the field's type and checked (see validation.parse_setting)."""
    from .training.validation import parse_setting

    try:
        return parse_setting(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _command(argv: list[str]) -> str:
    return "python -m hashlib_tutorial " + " ".join(shlex.quote(a) for a in argv)


def _integer(text: str, minimum: int, too_small: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{value} is {too_small}; give an integer >= {minimum}")
    return value


def _positive_int(text: str) -> int:
    return _integer(text, 1, "not positive")


def _seed(text: str) -> int:
    return _integer(text, 0, "negative")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _attention(text: str) -> str:
    from .model.attention import ATTENTION

    if text != "none" and text not in ATTENTION:
        raise argparse.ArgumentTypeError(f"unknown attention {text!r}; "
                                         f"choose one of none, {', '.join(sorted(ATTENTION))}")
    return text


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit status 2), without the usage text."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m hashlib_tutorial", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("train", help="train and evaluate a method at one or more code lengths")
    p.add_argument("--method", required=True, help="dah, dpfah, admth, dpsh, dsh, lsh or itq")
    p.add_argument("--bits", type=_positive_int, nargs="+", required=True)
    p.add_argument("--dataset", help="cifar10 (default), cifar10-mosaic, folder or list")
    p.add_argument("--protocol", help="cifar10, cifar10-1, cifar10-2 or quick (CIFAR-10 only)")
    p.add_argument("--profile", default="quick", help="quick (a 10-minute budget on 2 CPU cores with native bfloat16, default), "
                   "demo (fewer epochs), cpu (report scale) or paper (GPU)")
    p.add_argument("--epochs", type=_positive_int)
    p.add_argument("--batch-size", type=_positive_int)
    p.add_argument("--lr", type=_positive_float)
    p.add_argument("--attention", type=_attention, help="override the method's attention: none, se, cbam or simam")
    p.add_argument("--input-features", help="lsh/itq: 'pixels' or a trained run directory")
    p.add_argument("--data-dir")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:1, mps")
    p.add_argument("--seed", type=_seed)
    p.add_argument("--set", type=_setting, action="append", metavar="FIELD=VALUE",
                   help="override any TrainConfig field, VALUE read by its type (true/false, a number, a name, "
                        "a JSON object for a dict), e.g. --set pairs=memory --set augment=false "
                        "--set 'backbone_kwargs={\"width\": 0.5}' (repeatable)")
    run = p.add_mutually_exclusive_group()
    run.add_argument("--resume", action="store_true", help="continue the run in --out (same settings)")
    run.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bars or epoch lines")
    p.add_argument("--out", required=True, help="run directory")
    p.set_defaults(handler=_train)

    p = commands.add_parser("evaluate", help="recompute every metric of a run from its checkpoints")
    p.add_argument("run_dir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_evaluate)

    p = commands.add_parser("encode", help="hash a folder of your own images with a trained run")
    p.add_argument("--run", required=True, help="run directory")
    p.add_argument("--images", required=True, help="a folder of images (searched recursively)")
    p.add_argument("--out", required=True, help="codes.npz to write")
    p.add_argument("--bits", type=_positive_int, help="code length, if the run has several")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.set_defaults(handler=_encode)

    p = commands.add_parser("search", help="query encoded images with an image")
    p.add_argument("--codes", required=True, help="codes.npz written by encode")
    p.add_argument("--query", required=True, help="an image file")
    p.add_argument("-k", type=_positive_int, default=10)
    p.set_defaults(handler=_search)

    p = commands.add_parser("benchmark", help="encode, attention, mAP, search and multi-length timings")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    p.add_argument("--write", action="store_true", help="save results/benchmark.json and the README's speed table")
    p.set_defaults(handler=_benchmark)

    p = commands.add_parser("checkpoints", help="train the course's models once and keep them in checkpoints/")
    p.add_argument("--retrain", action="store_true",
                   help="train every course model again and replace the committed copy (prints both mAPs)")
    p.set_defaults(handler=_checkpoints)

    p = commands.add_parser("reproduce", help="train every method at every length; results table and figures")
    p.add_argument("--profile", default="demo", help="demo (make demo, default), quick (every length), "
                   "cpu (the reproduction report) or paper (GPU)")
    p.add_argument("--out", default="results", help="results root (default: results/, with the figures in figures/ and "
                   "the README's table; any other root gets <out>/<profile>/figures/ and nothing outside it)")
    p.add_argument("--rows", "--methods", dest="methods", nargs="+", help="a subset of the rows (default: all)")
    p.add_argument("--data-dir")
    p.add_argument("--commit", action="store_true",
                   help="git-commit results/<profile>/results.json after every row (for runs longer than a sitting)")
    p.add_argument("--no-train", action="store_true",
                   help="train nothing: write the tables and figures from the rows results.json holds")
    p.set_defaults(handler=_reproduce)

    p = commands.add_parser("student", help="the student edition: every notebook without solutions or outputs (nbgrader)")
    p.add_argument("--out", help="folder to write (default: build/student)")
    p.set_defaults(handler=_student)

    p = commands.add_parser("book", help="the course site (Jupyter Book) from the committed notebooks, never executed")
    p.add_argument("--out", help="build folder; the site is OUT/html (default: build/book)")
    p.set_defaults(handler=_book)

    p = commands.add_parser("autograde", help="run a student's notebook and score each exercise's checker")
    p.add_argument("notebook", help="the student's filled-in notebook")
    p.add_argument("--source", help="the teacher's notebook (default: notebooks/ with the same file name)")
    p.add_argument("--out", help="also write the executed notebook here")
    p.set_defaults(handler=_autograde)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


class _Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a job scheduler), raised like Ctrl-C so that the same clean-up runs; exit status 143."""


def _terminate(signum, frame) -> None:
    raise _Terminated


def _resume_hint(args) -> str | None:
    """How to carry on after a stop (Ctrl-C, SIGTERM, a full disk), for the commands that can resume."""
    if args.command == "train":
        argv = [a for a in args.argv if a != "--overwrite"]
        return f"resume with: {_command(argv + ([] if '--resume' in argv else ['--resume']))}"
    if args.command == "reproduce":
        return f"run the same command again to resume: {_command(args.argv)}"
    return None


def _interrupted(args, stop: BaseException | None = None) -> str:
    """What to say after Ctrl-C or SIGTERM: how to resume, for the commands that can."""
    what = "terminated" if isinstance(stop, _Terminated) else "interrupted"
    hint = _resume_hint(args)
    return f"{what}; {hint}" if hint else what


def main(argv: list[str] | None = None) -> None:
    """Run one command; a user's mistake exits with one line on stderr (no traceback unless --debug)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:  # SIGTERM stops like Ctrl-C (in the main thread only, where Python delivers signals)
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:
        previous = None
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            args.handler(args)
    except KeyboardInterrupt as stop:
        if args.debug:
            raise
        print(_interrupted(args, stop), file=sys.stderr)
        sys.exit(143 if isinstance(stop, _Terminated) else 130)
    except (ValueError, OSError, RuntimeError, FloatingPointError) as error:
        if args.debug:
            raise
        from .data.files import NoSpaceError

        message = ' '.join(str(error).split())
        if isinstance(error, NoSpaceError) and _resume_hint(args):
            message = f"no space left on device while writing {error.filename}; free some space and {_resume_hint(args)}"
        hint = " (run with --debug for the traceback)" if isinstance(error, RuntimeError) else ""
        print(f"error: {message}{hint}", file=sys.stderr)
        sys.exit(1)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    main()
