"""Command line: python -m hashlib_tutorial {train, evaluate, encode, search, benchmark, reproduce} ...

Run ``python -m hashlib_tutorial <command> --help`` for each command's options.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path


def _train(args) -> None:
    from .engine import train

    names = {"dataset": args.dataset, "protocol": args.protocol, "epochs": args.epochs, "data_dir": args.data_dir,
             "device": args.device, "seed": args.seed, "batch_size": args.batch_size, "lr": args.lr,
             "input_features": args.input_features}
    overrides = {k: v for k, v in names.items() if v is not None}
    if args.attention is not None:
        overrides["attention"] = None if args.attention == "none" else args.attention
    train(args.method, args.bits, args.out, args.profile, resume=args.resume, progress=not args.quiet,
          command=_command(), **overrides)


def _evaluate(args) -> None:
    from .evaluate import evaluate_run, format_results

    report = evaluate_run(args.run_dir, progress=not args.json)
    print(json.dumps(report, indent=2) if args.json else format_results(report))


def _encode(args) -> None:
    from .search import encode_folder

    n = encode_folder(args.run, args.images, args.out, bits=args.bits)
    print(f"wrote {n} codes to {args.out}")


def _search(args) -> None:
    from .search import search_image

    for rank, (distance, path) in enumerate(search_image(args.codes, args.query, args.k), start=1):
        print(f"{rank:3d}  d={distance:3d}  {path}")


def _benchmark(args) -> None:
    from .benchmark import format_benchmark, run_benchmark

    report = run_benchmark(quick=args.quick)
    print(json.dumps(report, indent=2) if args.json else format_benchmark(report))


def _reproduce(args) -> None:
    from .reproduce import reproduce

    reproduce(args.profile, Path(args.out), methods=args.methods, data_dir=args.data_dir, command=_command())


def _command() -> str:
    return "python -m hashlib_tutorial " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not positive: code lengths and epochs must be >= 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hashlib_tutorial", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("train", help="train and evaluate a method at one or more code lengths")
    p.add_argument("--method", required=True, help="dah, dpfah, admth, dpsh, dsh, lsh or itq")
    p.add_argument("--bits", type=_positive_int, nargs="+", required=True)
    p.add_argument("--dataset", help="cifar10 (default), cifar10-mosaic, folder or list")
    p.add_argument("--protocol", help="cifar10, cifar10-1, cifar10-2 or quick (CIFAR-10 only)")
    p.add_argument("--profile", default="quick", help="quick (2-core CPU, default), cpu (report scale) or paper (GPU)")
    p.add_argument("--epochs", type=_positive_int)
    p.add_argument("--batch-size", type=_positive_int)
    p.add_argument("--lr", type=float)
    p.add_argument("--attention", help="override the method's attention: none, se, cbam or simam")
    p.add_argument("--input-features", help="lsh/itq: 'pixels' or a trained run directory")
    p.add_argument("--data-dir")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:1, mps")
    p.add_argument("--seed", type=int)
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
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
    p.set_defaults(handler=_encode)

    p = commands.add_parser("search", help="query encoded images with an image")
    p.add_argument("--codes", required=True, help="codes.npz written by encode")
    p.add_argument("--query", required=True, help="an image file")
    p.add_argument("-k", type=_positive_int, default=10)
    p.set_defaults(handler=_search)

    p = commands.add_parser("benchmark", help="encode, attention, mAP, search and multi-length timings")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    p.set_defaults(handler=_benchmark)

    p = commands.add_parser("reproduce", help="train every method at every length; results table and figures")
    p.add_argument("--profile", default="quick", help="quick (make demo), cpu (the reproduction report) or paper (GPU)")
    p.add_argument("--out", default="results", help="results root (default: results/)")
    p.add_argument("--rows", "--methods", dest="methods", nargs="+", help="a subset of the rows (default: all)")
    p.add_argument("--data-dir")
    p.set_defaults(handler=_reproduce)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except (ValueError, FileNotFoundError) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
