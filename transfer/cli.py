"""The ``kerazoo`` command line.

Examples:
    kerazoo models list            every registered model with its paper, input and size
    kerazoo models list 'vgg*'     those matching a shell pattern
    kerazoo models info vgg19      one model's registry entry, feature taps and weights
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

# TensorFlow's C++ start-up notices (CUDA probing, CPU features) would bury the output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import zoo

__all__ = ["main"]


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
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def _models_info(args: argparse.Namespace) -> int:
    try:
        info = zoo.model_info(args.name)
    except ValueError as error:
        print(f"kerazoo: {error}", file=sys.stderr)
        return 2
    fields = {
        field.name: getattr(info, field.name)
        for field in dataclasses.fields(info)
        if field.name not in ("builder", "architecture")
    }
    fields["feature_taps"] = [dataclasses.asdict(tap) for tap in info.feature_taps]
    fields["weights"] = [dataclasses.asdict(spec) for spec in info.weights]
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
    return args.handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
