"""Command line: ``python -m fastnn demo``."""
import argparse
import sys

from . import demo


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastnn", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="the tutorial's worked examples, computed by the kernels")
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo.run(print)
    return 0


if __name__ == "__main__":
    sys.exit(main())
