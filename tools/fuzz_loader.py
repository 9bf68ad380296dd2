"""Coverage-guided fuzzing of Network.load with atheris (pip install atheris).

    cp -r tools/fuzz-corpus /tmp/corpus                          # the seed corpus: valid models
    python tools/fuzz_loader.py /tmp/corpus -max_total_time=300 -rss_limit_mb=2048 -timeout=10
    python tools/fuzz_loader.py --make-corpus tools/fuzz-corpus  # rewrite the seed corpus

Each input is handed to fastnn.io.load as a file object. A finding is any
exception other than ModelFormatError (or a crash, a hang, or memory over the
limit: a header that makes the loader allocate what the file does not hold).
libFuzzer prints the run count at the end ("Done N runs in S second(s)") and
writes crash-* files to reproduce findings: python tools/fuzz_loader.py crash-<sha>.
"""
import io
import os
import sys

import atheris

with atheris.instrument_imports():
    import fastnn.io
    from fastnn import Layer, ModelFormatError, Network


def test_one_input(data):
    try:
        fastnn.io.load(io.BytesIO(data))
    except ModelFormatError:
        pass


def make_corpus(folder):
    os.makedirs(folder, exist_ok=True)
    models = [Network([2, 2, 1], seed=0),
              Network([3, Layer(4, "relu"), Layer(2, "softmax")], dtype="float32", seed=1),
              Network([1, 1], activation="identity", seed=2),
              Network([4, Layer(3, "tanh"), Layer(3, "leaky_relu"), Layer(1, "step")], seed=3)]
    # version 2 members: an optimizer's state, and ReduceLROnPlateau's
    X = [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]
    trained = Network([2, 3, 1], seed=4)
    trained.fit(X, [1, 1, 0, 0], epochs=3, optimizer="adam", batch_size=2)
    plateau = Network([2, 2, 1], seed=5)
    plateau.fit(X, [1, 1, 0, 0], epochs=3, optimizer={"name": "rmsprop", "centered": True},
                schedule="plateau", batch_size=None)
    models += [trained, plateau]
    for i, net in enumerate(models):
        net.save(os.path.join(folder, f"model{i}.npz"))
    print(f"wrote {len(models)} valid models to {folder}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--make-corpus":
        make_corpus(sys.argv[2])
    else:
        atheris.Setup(sys.argv, test_one_input)
        atheris.Fuzz()
