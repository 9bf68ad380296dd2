"""Network.fit with its default settings on scikit-learn's small datasets: does it diverge?

For each dataset (inputs standardised on the training part; diabetes: the target too),
hidden activation and seed, a ``Network([n_features, 32, n_outputs], activation=...)`` with
the output the task needs (softmax, sigmoid, identity: ``output=``) is trained by
``fit(X, y)`` with nothing else given (or with the settings in --fit, a Python dict), on one
BLAS thread. Prints, per dataset and activation, how many of the seeds diverged, the test
score (accuracy, or R^2 for diabetes: median, min-max) and the fit time.

    python tools/network_defaults.py                    # the defaults
    python tools/network_defaults.py --fit "dict(learning_rate=0.01)"
"""
import argparse
import time

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

import fastnn

DATASETS = {"digits": (load_digits, "softmax"), "breast_cancer": (load_breast_cancer, "sigmoid"),
            "wine": (load_wine, "softmax"), "diabetes": (load_diabetes, "identity")}


def split(name, seed):
    load, output = DATASETS[name]
    X, y = load(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, random_state=seed, stratify=None if output == "identity" else y)
    mean, std = X_train.mean(0), X_train.std(0)
    std[std == 0] = 1
    X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
    if output == "identity":
        y_mean, y_std = y_train.mean(), y_train.std()
        y_train, y_test = (y_train - y_mean) / y_std, (y_test - y_mean) / y_std
    return X_train, X_test, y_train, y_test


def score(net, output, X, y):
    if output == "identity":
        p = net.predict(X)
        return 1 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2)
    return float(np.mean(net.predict_classes(X) == y))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", default="dict()", help="fit's settings, a Python dict")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--activations", default="sigmoid,relu,tanh")
    parser.add_argument("--hidden", default="32", help="hidden layer sizes, e.g. 100 or 64,64")
    args = parser.parse_args()
    settings = eval(args.fit)                                   # a command-line tool
    hidden = [int(h) for h in args.hidden.split(",")]
    shown = ", ".join(f"{k}={v!r}" for k, v in settings.items())
    print(f"fastnn {fastnn.__version__}, fit({shown})"
          f", Network([n_features, {', '.join(map(str, hidden))}, n_outputs]), {args.seeds} "
          f"seeds, 1 BLAS thread")
    print(f"{'dataset':<14} {'activation':<10} {'diverged':>8}  {'test score':<22} fit time")
    for name, (_, output) in DATASETS.items():
        for activation in args.activations.split(","):
            diverged, scores, times = 0, [], []
            for seed in range(args.seeds):
                X_train, X_test, y_train, y_test = split(name, seed)
                n_out = 1 if output != "softmax" else len(np.unique(y_train))
                net = fastnn.Network([X_train.shape[1], *hidden, n_out], activation=activation,
                                     output=output, seed=seed)
                start = time.perf_counter()
                try:
                    with threadpool_limits(1):
                        net.fit(X_train, y_train, **settings)
                except fastnn.TrainingDivergedError:
                    diverged += 1
                    continue
                times.append(time.perf_counter() - start)
                scores.append(score(net, output, X_test, y_test))
            shown = (f"{np.median(scores):.3f} ({min(scores):.3f}-{max(scores):.3f})"
                     if scores else "-")
            took = f"{np.median(times) * 1e3:.0f} ms" if times else "-"
            print(f"{name:<14} {activation:<10} {diverged:>5}/{args.seeds}  {shown:<22} {took}")


if __name__ == "__main__":
    main()
