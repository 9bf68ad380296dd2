"""Command line: ``python -m fastnn demo`` and ``python -m fastnn bench [options]``."""
import argparse
import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        from . import benchmark
        return benchmark.main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m fastnn")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="worked examples: a neuron, a 2-2-1 network, mean squared "
                        "error, backpropagation, training, a linear fit")
    commands.add_parser("bench", help="the compiled backend beside the NumPy reference "
                        "(python -m fastnn bench --help)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from . import demo
        demo.run(print)
    return 0


if __name__ == "__main__":
    sys.exit(main())
