"""MaxEntClassifier on a GPU through the array API, beside the CPU fit and LogisticRegression on the GPU.

Where PyTorch sees a CUDA device, on the dense benchmark sets of ``run.py`` (same seeded data):

* ``MaxEntClassifier()``'s default fit on tensors on the GPU (scikit-learn's array API dispatch:
  the full-batch solvers run every pass there; ``"auto"`` skips its SAGA phase on a device);
* one full-batch pass of its objective on the GPU (loss and gradient: what one L-BFGS iteration
  costs), the pass the GPU fit is made of, where the CPU fit also has SAGA epochs;
* one SAGA epoch on the GPU (``solver="saga"``, minibatches of 1,024 rows), whose ratio to the
  pass says what a SAGA phase would cost there;
* the same default fit on NumPy on the CPU, and one full-batch pass and one SAGA epoch there;
* ``LogisticRegression()`` (lbfgs) on the GPU, the peer with array API support.

Times are medians of ``--repeats`` in one process, with the ratio to MaxEntClassifier's CPU fit,
and each fit's certified gap where it has one. Writes ``results/GPU.md``. Without a GPU it says so
and exits with status 0; ``--device cpu`` runs the same code on PyTorch's CPU tensors (a smoke
test of the script, not a GPU figure).

Usage, from the repository root (scipy reads ``SCIPY_ARRAY_API`` at import; set here if unset)::

    python benchmarks/gpu.py                       # dense, dense32, dense1m on cuda
    python benchmarks/gpu.py --quick --device cpu --out /tmp/gpu
"""

import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")  # before scipy is imported, below

import argparse
import datetime
import sys
import time
from pathlib import Path

import numpy as np
import sklearn
from run import C, load_dataset, machine, timed_fit
from sklearn.linear_model import LogisticRegression
from sklearn.utils._array_api import get_namespace

from sklearn_maxent import MaxEntClassifier
from sklearn_maxent._array_api._namespace import on_device_objective
from sklearn_maxent._optim import SGDState, StepSchedule
from sklearn_maxent._optim._epochs import _saga_epoch
from sklearn_maxent._optim._state import SAGAMemory
from sklearn_maxent._optim._steps import default_step
from sklearn_maxent._options import Prior

DENSE = ("dense", "dense32", "dense1m")


def timed(function, repeats, synchronize):
    """Median seconds of ``function()``, the device synchronized after each call."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def training_objective(estimator, X, y, on=None):
    """``estimator``'s training objective and zero parameters (on the device with ``on``)."""
    X_host, y_host = (np.asarray(a.cpu()) if hasattr(a, "cpu") else a for a in (X, y))
    targets = np.eye(np.unique(y_host).size, dtype=X_host.dtype)[y_host]
    objective = estimator._objective(X_host, targets, np.ones(len(y_host)), None, Prior(None, None, None))
    if on is not None:
        objective = on_device_objective(objective, *on, X)
    coef = np.zeros(objective.parameter_shape, dtype=objective.dtype)
    return objective, coef, np.zeros(coef.shape[1], dtype=objective.dtype)


def one_epoch_seconds(estimator, X, y, repeats, synchronize, on=None):
    """One SAGA epoch of ``estimator``'s training objective from zero (on the device with ``on``)."""
    objective, coef, intercept = training_objective(estimator, X, y, on)
    batch_size = min(1024, objective.n_samples)
    rng = np.random.RandomState(0)
    step = default_step(objective, batch_size, rng)

    def one_epoch():
        state = SGDState(StepSchedule("constant", step))
        state.memory = SAGAMemory.empty(objective)
        order = rng.permutation(objective.n_samples)
        return _saga_epoch(objective, coef.copy(), intercept.copy(), state, batch_size, order)

    return timed(one_epoch, repeats, synchronize)


def one_pass_seconds(estimator, X, y, repeats, synchronize, on=None):
    """One loss-and-gradient pass of ``estimator``'s training objective (on the device with ``on``)."""
    objective, coef, intercept = training_objective(estimator, X, y, on)

    def one_pass():
        objective._last_pass = None  # the NumPy objective would return the pass it made last here
        return objective.data_loss_gradient(coef, intercept)

    return timed(one_pass, repeats, synchronize)


def measure(name, torch, device, quick, repeats):
    X, _, y, _ = load_dataset(name, quick)
    alpha = 1 / X.shape[0]
    synchronize = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    X_device, y_device = torch.asarray(X, device=device), torch.asarray(y, device=device)
    row = {"shape": f"{X.shape[0]} x {X.shape[1]} {X.dtype}", "classes": int(np.unique(y).size)}
    cpu = MaxEntClassifier(alpha=alpha)
    row["cpu fit"] = timed(lambda: timed_fit(cpu, X, y), repeats, lambda: None)
    row["cpu gap"] = cpu.duality_gap_
    row["cpu pass"] = one_pass_seconds(cpu, X, y, repeats, lambda: None)
    row["cpu epoch"] = one_epoch_seconds(cpu, X, y, repeats, lambda: None)
    with sklearn.config_context(array_api_dispatch=True):
        gpu = MaxEntClassifier(alpha=alpha)
        row["gpu fit"] = timed(lambda: timed_fit(gpu, X_device, y_device), repeats, synchronize)
        row["gpu gap"] = gpu.duality_gap_
        xp = get_namespace(X_device)[0]  # the array API wrapper of torch
        on = (xp, X_device.device)
        row["gpu pass"] = one_pass_seconds(gpu, X_device, y_device, repeats, synchronize, on)
        row["gpu epoch"] = one_epoch_seconds(gpu, X_device, y_device, repeats, synchronize, on)
        logistic = LogisticRegression(C=C)
        row["LR gpu fit"] = timed(lambda: timed_fit(logistic, X_device, y_device), repeats, synchronize)
    return row


def markdown(report):
    m = report["machine"]
    lines = [
        "# MaxEntClassifier on a GPU (array API)",
        "",
        f"Command: `{report['command']}`  ",
        f"Date: {report['date']}  ",
        f"Device: {report['device_name']}; CPU: {m['cpu']}, {m['cores']} cores; torch {report['torch']}",
        "",
        "Default fits (`C = 1`, `alpha = 1 / n_train`), median of the repeats; ratios to MaxEntClassifier's"
        " CPU fit. 'Pass': one loss-and-gradient pass of the training objective; 'epoch': one SAGA epoch"
        " (minibatches of 1,024 rows), also in passes.",
        "",
        "| data set | MaxEnt CPU fit (s) | MaxEnt device fit (s) | ratio | LR lbfgs device fit (s) | ratio"
        " | CPU pass (s) | device pass (s) | CPU epoch (s, passes) | device epoch (s, passes)"
        " | gaps CPU / device |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in report["datasets"].items():
        base = r["cpu fit"]
        lines.append(
            f"| {name} ({r['shape']}, {r['classes']} classes) | {base:.3f} | {r['gpu fit']:.3f}"
            f" | {r['gpu fit'] / base:.2f} | {r['LR gpu fit']:.3f} | {r['LR gpu fit'] / base:.2f}"
            f" | {r['cpu pass']:.4f} | {r['gpu pass']:.4f}"
            f" | {r['cpu epoch']:.4f}, {r['cpu epoch'] / r['cpu pass']:.1f}"
            f" | {r['gpu epoch']:.4f}, {r['gpu epoch'] / r['gpu pass']:.1f}"
            f" | {r['cpu gap']:.1e} / {r['gpu gap']:.1e} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DENSE), choices=DENSE)
    parser.add_argument("--device", default="cuda", help="cuda (default), or cpu for a smoke test")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small data")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: no GPU benchmark (pip install torch).")
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        print("No CUDA device here: no GPU benchmark (use --device cpu for a smoke test of the script).")
        return 0
    report = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device_name": torch.cuda.get_device_name() if args.device == "cuda" else "PyTorch CPU (smoke test)",
        "torch": torch.__version__,
        "machine": machine(),
        "datasets": {
            name: measure(name, torch, args.device, args.quick, args.repeats) for name in args.datasets
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "GPU.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
