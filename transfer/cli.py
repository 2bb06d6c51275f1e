"""The ``kerazoo`` command line.

Examples:
    kerazoo models list            every registered model with its paper, input and size
    kerazoo models list 'vgg*'     those matching a shell pattern
    kerazoo models info vgg19      one model's registry entry, feature taps and weights
    kerazoo weights list           every registered weights set, its source and licence
    kerazoo weights download vgg19 --tag imagenet     fetch, verify and cache its files
    kerazoo weights import FILE --model vgg19 --tag imagenet   install a file obtained by hand
    kerazoo weights verify         check every cached weights file against its hashes
    kerazoo data check DIR         per-class counts, imbalance ratio and bad files of a dataset
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

# TensorFlow's C++ start-up notices (CUDA probing, CPU features) would bury the output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import zoo
from zoo import weights as weights_lib

__all__ = ["main"]


def _table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _models_list(args: argparse.Namespace) -> int:
    names = zoo.list_models(args.pattern)
    if not names:
        print(f"no model matches {args.pattern!r}", file=sys.stderr)
        return 1
    rows = [("name", "family", "year", "input", "params", "weights")]
    for name in names:
        info = zoo.model_info(name)
        rows.append(
            (
                name,
                info.family,
                str(info.year),
                "x".join(map(str, info.default_size)),
                f"{info.params:,}",
                ",".join(info.weights_tags) or "-",
            )
        )
    _table(rows)
    return 0


def _models_info(args: argparse.Namespace) -> int:
    fields = zoo.model_info(args.name).to_dict()
    if args.json:
        print(json.dumps(fields, indent=2))
        return 0
    for key, value in fields.items():
        if key == "feature_taps":
            print("feature_taps:")
            for tap in value:
                print(f"  {tap['layer']:<14} stride {tap['stride']:<3} channels {tap['channels']}")
        else:
            print(f"{key}: {value if value != [] else '-'}")
    return 0


def _weight_sets(pattern: str | None) -> Iterator[tuple[str, zoo.WeightsSpec]]:
    for name in zoo.list_models(pattern):
        for spec in zoo.model_info(name).weights:
            yield name, spec


def _weights_list(args: argparse.Namespace) -> int:
    rows = [("model", "tag", "source", "licence", "format", "top-1", "preprocessing", "cached")]
    for name, spec in _weight_sets(args.pattern):
        # Present or not only: hashing every cached file is `weights verify`'s job.
        files = weights_lib.published_files(spec)
        cached = sum(weights_lib.cached_path(f.file).is_file() for f in files)
        rows.append(
            (
                name,
                spec.tag,
                spec.source or "-",
                spec.licence or "-",
                spec.format,
                f"{spec.top1:.1f}%" if spec.top1 is not None else "-",
                spec.preprocessing.mode if spec.preprocessing else "-",
                f"{cached}/{len(files)}",
            )
        )
    if len(rows) == 1:
        print(f"no weights registered for {args.pattern or 'any model'!r}", file=sys.stderr)
        return 1
    _table(rows)
    return 0


def _weights_download(args: argparse.Namespace) -> int:
    info = zoo.model_info(args.model)
    source = weights_lib.resolve(info, args.tag, include_top=not args.no_top)
    print(source.path)
    return 0


def _weights_import(args: argparse.Namespace) -> int:
    print(weights_lib.import_file(zoo.model_info(args.model), args.tag, args.file))
    return 0


def _weights_verify(args: argparse.Namespace) -> int:
    corrupt = 0
    for name, spec in _weight_sets(args.pattern):
        for path, status in weights_lib.verify_cached(spec):
            if status != "missing":
                print(f"{status:<10}  {name}  {spec.tag}  {path}")
            corrupt += status == "corrupt"
    return 1 if corrupt else 0


def _add_weights_commands(commands: Any) -> None:
    weights = commands.add_parser("weights", help="list, fetch, import and verify weights")
    actions = weights.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="registered weights sets and what is cached")
    listing.add_argument("pattern", nargs="?", help="shell-style pattern of model names")
    listing.set_defaults(handler=_weights_list)
    download = actions.add_parser("download", help="fetch, verify and cache a weights set")
    download.add_argument("model")
    download.add_argument("--tag", default="imagenet")
    download.add_argument("--no-top", action="store_true", help="the file without the top")
    download.set_defaults(handler=_weights_download)
    install = actions.add_parser("import", help="install a weights file obtained by hand")
    install.add_argument("file")
    install.add_argument("--model", required=True)
    install.add_argument("--tag", required=True)
    install.set_defaults(handler=_weights_import)
    verify = actions.add_parser("verify", help="check cached weights files against their hashes")
    verify.add_argument("pattern", nargs="?", help="shell-style pattern of model names")
    verify.set_defaults(handler=_weights_verify)


def _data_check(args: argparse.Namespace) -> int:
    """Per-class counts, imbalance ratio and bad files; 1 if anything is wrong."""
    from transfer.data import check_directory  # TensorFlow's data stack only when needed

    reports = check_directory(args.path)
    for split, report in reports.items():
        print(f"{split}: {report.root}")
        width = max((len(name) for name in report.counts), default=5)
        for name, count in report.counts.items():
            print(f"  {name:<{width}}  {count}")
        print(f"  imbalance ratio (max/min): {report.imbalance_ratio:.2f}")
        for name in report.empty_classes:
            print(f"  empty class folder: {name}")
        if len(report.counts) < 2:
            print(f"  only {len(report.counts)} class(es): a classifier needs at least 2")
        print(f"  bad files: {len(report.bad_files)}")
        for bad in report.bad_files:
            print(f"    {bad.path}: {bad.reason}")
    return 0 if all(report.ok for report in reports.values()) else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kerazoo", description="kerazoo model zoo tools")
    commands = parser.add_subparsers(dest="command", required=True)
    models = commands.add_parser("models", help="list and describe the registered models")
    model_commands = models.add_subparsers(dest="action", required=True)
    listing = model_commands.add_parser("list", help="list models, optionally by pattern")
    listing.add_argument("pattern", nargs="?", help="shell-style pattern, e.g. 'vgg*'")
    listing.set_defaults(handler=_models_list)
    info = model_commands.add_parser("info", help="one model's registry entry")
    info.add_argument("name")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(handler=_models_info)
    _add_weights_commands(commands)
    data = commands.add_parser("data", help="check image datasets")
    data_commands = data.add_subparsers(dest="action", required=True)
    check = data_commands.add_parser(
        "check", help="per-class counts, imbalance ratio and bad files of an image folder"
    )
    check.add_argument("path", help="a folder with one sub-folder per class, or train/ val/ test/")
    check.set_defaults(handler=_data_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the command line.

    Args:
        argv: Arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit status.

    Example:
        >>> main(["models", "list", "lenet*"])  # doctest: +SKIP
    """
    args = _parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, OSError) as error:  # bad names, hashes, files, network: one clean line
        print(f"kerazoo: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
