"""fastnn.sklearn against scikit-learn, both at their defaults, side by side in one run.

    python bench/sklearn_defaults.py                 # 5 seeds, about 20 s
    python bench/sklearn_defaults.py --seeds 3 --datasets wine diabetes

For each dataset and seed: a stratified 75/25 split (``random_state=seed``),
inputs standardised on the training part (diabetes: the target too), then
``MLPClassifier()`` / ``MLPRegressor()`` with only ``random_state=seed`` set,
from scikit-learn and from fastnn.sklearn (its default, float32, and with
``dtype="float64"``, scikit-learn's precision), timed around ``fit`` and
scored on the test part (accuracy, or R^2). The sides take turns (their order
rotates with the seed) and BLAS runs on one thread for all (threadpoolctl), so
that a busy second core slows them alike. Prints, per dataset, the medians
over the seeds (and their min-max spread) of the score, the epochs run and the
fit time, and the speed-up: the median of the per-seed ratios scikit-learn
time / fastnn time, with their spread.
"""
import argparse
import os
import platform
import time
import warnings

import numpy as np
import sklearn
from sklearn import neural_network
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import fastnn
from fastnn import sklearn as fastnn_sklearn

#: name -> (loader, is a classification task)
DATASETS = {"digits": (load_digits, True), "breast_cancer": (load_breast_cancer, True),
            "wine": (load_wine, True), "diabetes": (load_diabetes, False)}


def split(name, seed):
    """Standardised train and test parts of a dataset."""
    load, classification = DATASETS[name]
    X, y = load(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=seed, stratify=y if classification else None)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    if not classification:
        mean, std = y_train.mean(), y_train.std()
        y_train, y_test = (y_train - mean) / std, (y_test - mean) / std
    return X_train, X_test, y_train, y_test


def run(estimator, data):
    """(fit seconds, test score, epochs) of an estimator on one split."""
    X_train, X_test, y_train, y_test = data
    started = time.perf_counter()
    estimator.fit(X_train, y_train)
    seconds = time.perf_counter() - started
    return seconds, estimator.score(X_test, y_test), estimator.n_iter_


def measure(names, seeds):
    """{dataset: {side: [(seconds, score, epochs) per seed]}}."""
    results = {}
    for name in names:
        kind = "MLPClassifier" if DATASETS[name][1] else "MLPRegressor"
        theirs, ours = getattr(neural_network, kind), getattr(fastnn_sklearn, kind)
        sides = {"scikit-learn": theirs, "fastnn": ours,
                 "fastnn float64": lambda **kw: ours(dtype="float64", **kw)}
        results[name] = {side: [] for side in sides}
        for make in sides.values():                                   # warm-up
            run(make(random_state=0, max_iter=2), split(name, 0))
        for seed in range(seeds):
            data = split(name, seed)
            names = list(sides)
            for side in names[seed % len(names):] + names[:seed % len(names)]:
                results[name][side].append(run(sides[side](random_state=seed), data))
    return results


def spread(values, fmt):
    values = np.asarray(values)
    return f"{fmt(np.median(values))} ({fmt(values.min())}-{fmt(values.max())})"


def report(results, seeds):
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"fastnn {fastnn.__version__} ({fastnn.kernels.INSTRUCTION_SET} kernels), "
          f"scikit-learn {sklearn.__version__}, NumPy {np.__version__}, Python "
          f"{platform.python_version()}; {cpu}, {os.cpu_count()} cores; BLAS on 1 thread; "
          f"medians over {seeds} seeds (min-max)")
    header = (f"{'dataset':<14} {'side':<15} {'test score':<24} {'epochs':<16} "
              f"{'fit time':<26} {'speed-up':<20}")
    print(header)
    print("-" * len(header))
    ms = lambda s: f"{s * 1e3:.0f} ms" if s >= 0.1 else f"{s * 1e3:.1f} ms"  # noqa: E731
    for name, sides in results.items():
        for side, runs in sides.items():
            seconds, scores, epochs = zip(*runs)
            ratios = [s[0] / f[0] for s, f in zip(sides["scikit-learn"], runs)]
            speedup = spread(ratios, lambda r: f"{r:.1f}x") if side != "scikit-learn" else ""
            print(f"{name:<14} {side:<15} {spread(scores, lambda v: f'{v:.3f}'):<24} "
                  f"{spread(epochs, lambda v: f'{v:.0f}'):<16} {spread(seconds, ms):<26} "
                  f"{speedup:<20}")
    print("test score: accuracy (digits, breast_cancer, wine) or R^2 (diabetes) on the 25 % "
          "held out; speed-up: scikit-learn's fit time / fastnn's, per seed; fastnn: its "
          "defaults (float32), fastnn float64: dtype='float64'")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds per dataset (default 5)")
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    with threadpool_limits(1):
        results = measure(args.datasets, args.seeds)
    report(results, args.seeds)


if __name__ == "__main__":
    main()
