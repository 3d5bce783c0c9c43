"""A real text classification corpus, built offline from the docstrings of installed packages.

Every module, class and function docstring of the installed distributions that the project's
``test`` extra pulls in (numpy, scipy, scikit-learn, pandas, matplotlib, dask, IPython, ...) is one
document, labelled by its top-level package (``sklearn``, ``IPython``, ...). The sources are parsed
with :mod:`ast`, never imported. Tests folders and vendored copies are skipped, exact duplicates
(after whitespace normalization) kept once, documents of fewer than ``MIN_WORDS`` words dropped,
and so are packages with fewer than ``MIN_CLASS_DOCS`` documents. Train and test are split by
module within each package (seeded), so that a module's near-copies never straddle the two. The
documents are vectorized by ``TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2))``,
fitted on the training part. Its hashed variant (``hashed=True``) is what a user who streams text
builds: ``HashingVectorizer(ngram_range=(1, 2), alternate_sign=False)``'s 2**20 columns, most of
which no training document uses, weighted by a ``TfidfTransformer(sublinear_tf=True)`` fitted on
the training part.

Only the ``test`` extra's dependencies count, not everything installed, so that a developer's own
additions (PyTorch, build tools, the benchmark peers) leave the corpus as CI sees it. The result is
cached under ``benchmarks/.cache/`` (gitignored), keyed by those distributions and their versions,
the Python version and the settings below: a changed environment builds a new corpus.

``load_text_twin`` returns its synthetic twin: ``text_data.make_text_twin`` with the corpus's
classes, class sizes, vocabulary size and mean non-zeros per row.

Usage, from the repository root::

    python benchmarks/real_text.py            # build (or load) the corpus, print its statistics
    python benchmarks/real_text.py --quick    # the small subsample of tests and --quick runs
    python benchmarks/real_text.py --hashed   # the hashed variant
"""

import argparse
import ast
import hashlib
import json
import os
import platform
import sysconfig
import time
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer, TfidfVectorizer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from text_data import make_text_twin

PROJECT = "sklearn-maxent"  # its extra names the corpus's packages; it is never part of it
EXTRAS = ("test",)
SEED = 0
MIN_WORDS = 10  # shorter docstrings ("Return self.") say nothing about their package
MIN_CLASS_DOCS = 100
TEST_SIZE = 0.2
QUICK_FRACTION = 1 / 8  # of the source files, for quick=True: a few thousand documents
# Folders whose sources are not the package's own prose: its tests and copies of other packages.
SKIPPED_FOLDERS = frozenset({"tests", "test", "_vendor", "_vendored", "vendored", "externals", "__pycache__"})
VECTORIZER = {"sublinear_tf": True, "min_df": 2, "ngram_range": (1, 2)}
HASHED_VECTORIZER = {"ngram_range": (1, 2), "alternate_sign": False, "norm": None}
DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
CACHE = Path(__file__).resolve().parent / ".cache"
FORMAT = 1  # bumped whenever the builder changes what it builds, so that old caches are not read


def _requirements(distribution, extras):
    """The requirements of ``distribution`` that apply with ``extras``, on this platform."""
    environments = [{"extra": extra} for extra in ("", *extras)]
    for line in distribution.requires or []:
        requirement = Requirement(line)
        marker = requirement.marker
        if marker is None or any(marker.evaluate(environment) for environment in environments):
            yield requirement


def corpus_distributions(project=PROJECT, extras=EXTRAS):
    """The installed distributions that ``project[extras]`` requires, directly or not.

    Parameters
    ----------
    project : str
        The distribution whose requirements are followed; it is not itself included.
    extras : tuple of str
        Its extras whose requirements are followed too.

    Returns
    -------
    dict
        ``importlib.metadata.Distribution`` by canonical name, sorted by name. Requirements that are
        not installed (optional, or for another platform) are left out. Without ``project``
        installed, every distribution of the environment but ``project``.
    """
    try:
        queue = [(metadata.distribution(project), tuple(extras))]
    except metadata.PackageNotFoundError:
        found = {canonicalize_name(d.metadata["Name"]): d for d in metadata.distributions()}
    else:
        found, seen = {}, set()
        while queue:
            distribution, wanted = queue.pop()
            for requirement in _requirements(distribution, wanted):
                key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
                if key in seen:
                    continue
                seen.add(key)
                try:
                    dependency = metadata.distribution(requirement.name)
                except metadata.PackageNotFoundError:
                    continue
                found[key[0]] = dependency
                queue.append((dependency, tuple(requirement.extras)))
    found.pop(canonicalize_name(project), None)
    return dict(sorted(found.items()))


def _site_dirs():
    """The running interpreter's site-packages folders (purelib and platlib)."""
    paths = sysconfig.get_paths()
    return {Path(paths[key]).resolve() for key in ("purelib", "platlib")}


def source_files(distributions):
    """The Python sources of ``distributions`` in site-packages, as ``(label, module, path)``.

    ``label`` is the top-level package (or single-file module) name, ``module`` the path relative
    to site-packages. Sorted, so that the corpus does not depend on the order of the metadata.
    """
    site_dirs, files = _site_dirs(), []
    for distribution in distributions.values():
        base = Path(distribution.locate_file("")).resolve()
        if base not in site_dirs:  # an editable or user install elsewhere
            continue
        for file in distribution.files or []:
            parts = file.parts
            if file.suffix != ".py" or parts[0] == ".." or file.name == "conftest.py":
                continue
            if SKIPPED_FOLDERS.intersection(parts[:-1]):
                continue
            label = parts[0].removesuffix(".py")
            files.append((label, file.as_posix(), str(base / file)))
    return sorted(files)


def docstrings(path):
    """The docstrings of a source file's module, classes and functions, whitespace normalized.

    Parameters
    ----------
    path : str
        A Python source file.

    Returns
    -------
    list of str
        In ``ast.walk`` order; empty when the file does not parse (Python 2 leftovers, templates).
    """
    try:
        with warnings.catch_warnings():
            # Invalid escape sequences in old sources warn, and do not matter here.
            warnings.simplefilter("ignore")
            tree = ast.parse(Path(path).read_bytes())
    except (SyntaxError, ValueError, OSError):
        return []
    found = (ast.get_docstring(node) for node in ast.walk(tree) if isinstance(node, DOCUMENTED))
    return [" ".join(doc.split()) for doc in found if doc]


def _parse_all(paths, workers):
    """``docstrings`` of every path, on ``workers`` processes."""
    if workers <= 1:
        return [docstrings(path) for path in paths]
    # joblib's processes (loky) work from any parent: a script, a notebook, ``python -c``.
    return Parallel(n_jobs=workers, batch_size=64)(delayed(docstrings)(path) for path in paths)


def collect_documents(files, workers):
    """Texts, labels and modules of every docstring of ``files``, in their order.

    Parameters
    ----------
    files : list of tuple
        ``(label, module, path)``, from ``source_files``.
    workers : int
        Processes that parse the files.

    Returns
    -------
    texts, labels, modules : ndarray of str
    """
    parsed = _parse_all([path for _, _, path in files], workers)
    rows = [
        (text, label, module) for (label, module, _), docs in zip(files, parsed, strict=True) for text in docs
    ]
    texts, labels, modules = zip(*rows, strict=True) if rows else ((), (), ())
    return np.array(texts, dtype=object), np.array(labels), np.array(modules)


def select_documents(texts, labels, min_class_docs):
    """Which documents to keep: long enough, first of their duplicates, in a large enough class.

    Parameters
    ----------
    texts, labels : ndarray
        All documents, in the corpus's deterministic order.
    min_class_docs : int
        Smallest class kept.

    Returns
    -------
    keep : ndarray of bool
    dropped : dict
        How many documents each rule dropped, and the classes left out.
    """
    long_enough = np.array([len(text.split()) >= MIN_WORDS for text in texts], dtype=bool)
    first_index = {}
    unique = np.array([first_index.setdefault(text, i) == i for i, text in enumerate(texts)], dtype=bool)
    candidate = long_enough & unique
    names, counts = np.unique(labels[candidate], return_counts=True)
    small = names[counts < min_class_docs]
    keep = candidate & ~np.isin(labels, small)
    dropped = {
        "short": int((~long_enough).sum()),
        "duplicate": int((long_enough & ~unique).sum()),
        "in_small_classes": int((candidate & ~keep).sum()),
        "small_classes": small.tolist(),
    }
    return keep, dropped


def split_by_module(labels, modules, test_size, rng):
    """A test mask of whole modules, about ``test_size`` of every class's documents.

    Within each class, its modules are shuffled and the shortest prefix whose document count comes
    closest to the class's test share goes to test; a class always keeps a module in train.

    Parameters
    ----------
    labels, modules : ndarray
    test_size : float
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of bool
        True for the test documents.
    """
    test = np.zeros(labels.size, dtype=bool)
    for label in np.unique(labels):
        in_class = labels == label
        groups, sizes = np.unique(modules[in_class], return_counts=True)
        order = rng.permutation(groups.size)
        cumulative = np.cumsum(sizes[order])
        # Prefixes of 1 .. groups.size - 1 modules; the one closest to the target share.
        candidates = cumulative[: groups.size - 1]
        if candidates.size == 0:
            continue
        n_groups = 1 + int(np.argmin(np.abs(candidates - test_size * in_class.sum())))
        test |= in_class & np.isin(modules, groups[order[:n_groups]])
    return test


def vectorize(train_texts, test_texts, hashed=False):
    """tf-idf rows of both parts, the vectorizer fitted on the training part: CSR float64.

    ``hashed``: of hashed uni- and bigrams (``HASHED_VECTORIZER``) instead of a vocabulary.
    """
    vectorizer = (
        make_pipeline(
            HashingVectorizer(**HASHED_VECTORIZER, dtype=np.float64), TfidfTransformer(sublinear_tf=True)
        )
        if hashed
        else TfidfVectorizer(**VECTORIZER, dtype=np.float64)
    )
    X_train = vectorizer.fit_transform(train_texts).tocsr()
    X_test = vectorizer.transform(test_texts).tocsr()
    for X in (X_train, X_test):
        X.sort_indices()
    return X_train, X_test


def _cache_key(distributions, quick, seed, hashed):
    """A digest of everything the corpus depends on: distributions and versions, Python, settings."""
    spec = {
        "format": FORMAT,
        "python": platform.python_version_tuple()[:2],
        "distributions": [[name, d.version] for name, d in distributions.items()],
        "quick": quick,
        "hashed": hashed,
        "seed": seed,
        "settings": [MIN_WORDS, MIN_CLASS_DOCS, TEST_SIZE, QUICK_FRACTION, sorted(SKIPPED_FOLDERS)],
        "vectorizer": HASHED_VECTORIZER if hashed else VECTORIZER,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _paths(distributions, quick, seed, hashed):
    """The cache's arrays (.npz) and metadata (.json) paths of this corpus."""
    variant = ("quick-" if quick else "") + ("hashed-" if hashed else "")
    stem = f"realtext-{variant}{_cache_key(distributions, quick, seed, hashed)}"
    return CACHE / f"{stem}.npz", CACHE / f"{stem}.json"


def documents(distributions, quick, rng, workers=None):
    """The selected documents of ``distributions``: texts, labels, modules, and what was dropped.

    Parameters
    ----------
    distributions : dict
        From ``corpus_distributions``.
    quick : bool
        Only a seeded ``QUICK_FRACTION`` of the source files, and classes of at least
        ``QUICK_FRACTION * MIN_CLASS_DOCS`` documents.
    rng : numpy.random.Generator
        Draws the quick sample.
    workers : int, optional
        Parsing processes; default one per core (one for quick builds, too small to gain).

    Returns
    -------
    texts, labels, modules : ndarray
    found : dict
        Files parsed, docstrings found, and how many each rule of ``select_documents`` dropped.
    """
    files = source_files(distributions)
    if quick:
        chosen = rng.random(len(files)) < QUICK_FRACTION
        files = [file for file, keep in zip(files, chosen, strict=True) if keep]
    workers = workers or (1 if quick else os.cpu_count() or 1)
    texts, labels, modules = collect_documents(files, workers)
    min_class_docs = round(MIN_CLASS_DOCS * QUICK_FRACTION) if quick else MIN_CLASS_DOCS
    keep, dropped = select_documents(texts, labels, min_class_docs)
    found = {"n_files": len(files), "n_docstrings": int(keep.size), "dropped": dropped}
    return texts[keep], labels[keep], modules[keep], found


def _csr_arrays(**matrices):
    """The components of CSR matrices, by name: what ``np.savez`` stores."""
    arrays = {}
    for part, X in matrices.items():
        arrays |= {f"{part}_{k}": getattr(X, k) for k in ("data", "indices", "indptr")}
        arrays[f"{part}_shape"] = np.array(X.shape)
    return arrays


def _statistics(classes, X_train, X_test, y_train, y_test):
    """Sizes, class counts and non-zeros per row of the split corpus."""
    return {
        "classes": classes.tolist(),
        "class_counts_train": np.bincount(y_train, minlength=classes.size).tolist(),
        "class_counts_test": np.bincount(y_test, minlength=classes.size).tolist(),
        "n_docs": int(y_train.size + y_test.size),
        "n_train": int(y_train.size),
        "n_test": int(y_test.size),
        "n_features": int(X_train.shape[1]),
        "nnz_per_row_train": X_train.nnz / X_train.shape[0],
        "nnz_per_row_test": X_test.nnz / X_test.shape[0],
    }


def build(distributions, quick=False, seed=SEED, workers=None, hashed=False):
    """Build the corpus: parse, select, split by module, vectorize.

    Parameters
    ----------
    distributions : dict
        From ``corpus_distributions``.
    quick : bool
        The small subsample (see ``documents``).
    seed : int
        Seeds the file sample, the split and the row order.
    workers : int, optional
        Parsing processes.
    hashed : bool
        Hashed features (see ``vectorize``).

    Returns
    -------
    arrays : dict of ndarray
        ``X_train`` and ``X_test`` as CSR components, ``y_train``, ``y_test``.
    info : dict
        The statistics, written to the cache's JSON.
    """
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    texts, labels, modules, found = documents(distributions, quick, rng, workers)
    parsed = time.perf_counter()
    classes, y = np.unique(labels, return_inverse=True)
    test = split_by_module(labels, modules, TEST_SIZE, rng)
    # Rows shuffled: in the sorted order each class would be one block.
    train_rows, test_rows = (rng.permutation(np.flatnonzero(mask)) for mask in (~test, test))
    X_train, X_test = vectorize(texts[train_rows].tolist(), texts[test_rows].tolist(), hashed)
    y_train, y_test = y[train_rows], y[test_rows]
    end = time.perf_counter()
    info = {
        "format": FORMAT,
        "quick": quick,
        "seed": seed,
        "python": platform.python_version(),
        "distributions": {name: d.version for name, d in distributions.items()},
        **_statistics(classes, X_train, X_test, y_train, y_test),
        "n_modules": int(np.unique(modules).size),
        **found,
        "seconds": {"parse": parsed - start, "split_and_vectorize": end - parsed, "total": end - start},
    }
    arrays = {"y_train": y_train, "y_test": y_test, **_csr_arrays(X_train=X_train, X_test=X_test)}
    return arrays, info


def _write(arrays, info, npz_path, json_path):
    """Save the arrays, then the metadata, each atomically: a complete JSON means complete arrays."""
    CACHE.mkdir(parents=True, exist_ok=True)
    suffix = f".{os.getpid()}.tmp"
    with open(f"{npz_path}{suffix}", "wb") as file:
        np.savez(file, **arrays)
    os.replace(f"{npz_path}{suffix}", npz_path)
    Path(f"{json_path}{suffix}").write_text(json.dumps(info, indent=1))
    os.replace(f"{json_path}{suffix}", json_path)


def _cached(quick, seed, rebuild=False, hashed=False):
    """The corpus's cache paths and metadata, building it when missing (or asked to)."""
    distributions = corpus_distributions()
    npz_path, json_path = _paths(distributions, quick, seed, hashed)
    if rebuild or not (json_path.exists() and npz_path.exists()):
        arrays, info = build(distributions, quick, seed, hashed=hashed)
        _write(arrays, info, npz_path, json_path)
    return npz_path, json.loads(json_path.read_text())


def real_text_info(quick=False, seed=SEED, hashed=False):
    """The corpus's statistics (classes, class counts, sizes, versions), building it if needed.

    Parameters
    ----------
    quick : bool
        The small subsample's statistics.
    seed : int
    hashed : bool
        The hashed variant's.

    Returns
    -------
    dict
        As written by ``build``; ``classes[k]`` is the package of label ``k``.
    """
    return _cached(quick, seed, hashed=hashed)[1]


def _csr(arrays, part):
    components = (arrays[f"{part}_{k}"] for k in ("data", "indices", "indptr"))
    return sparse.csr_matrix(tuple(components), shape=tuple(arrays[f"{part}_shape"]))


def load_real_text(quick=False, seed=SEED, hashed=False):
    """The docstring corpus, split by module: ``X_train, X_test, y_train, y_test``.

    Parameters
    ----------
    quick : bool
        A seeded sample of the source files (a few thousand documents), for tests and smoke runs.
    seed : int
        Seeds the sample, the split and the row order.
    hashed : bool
        Hashed features (2**20 columns, see ``vectorize``) instead of a vocabulary's.

    Returns
    -------
    X_train, X_test : scipy.sparse.csr_matrix, float64
        tf-idf rows (unit l2 norm, or zero when no term was seen in training), sorted indices.
    y_train, y_test : ndarray of int64
        Class codes; ``real_text_info(quick, seed)["classes"]`` names them.
    """
    npz_path, _ = _cached(quick, seed, hashed=hashed)
    with np.load(npz_path) as arrays:
        return _csr(arrays, "X_train"), _csr(arrays, "X_test"), arrays["y_train"], arrays["y_test"]


def load_text_twin(quick=False, seed=SEED):
    """The real corpus's synthetic twin, split as it is: ``X_train, X_test, y_train, y_test``.

    ``text_data.make_text_twin`` with the corpus's number of documents, class sizes, number of
    features and mean non-zeros per training row, read from its cached metadata; split stratified
    into as many training and test rows.

    Parameters
    ----------
    quick : bool
        The twin of the quick subsample.
    seed : int
        Seeds the generator and the split (and the real corpus whose statistics are used).

    Returns
    -------
    X_train, X_test : scipy.sparse.csr_matrix, float64
    y_train, y_test : ndarray of int64
    """
    info = real_text_info(quick, seed)
    class_counts = np.add(info["class_counts_train"], info["class_counts_test"])
    X, y = make_text_twin(
        n_docs=info["n_docs"],
        n_features=info["n_features"],
        class_counts=class_counts,
        nnz_per_row=info["nnz_per_row_train"],
        seed=seed,
    )
    return train_test_split(X, y, test_size=info["n_test"], stratify=y, random_state=seed)


def describe(info):
    """Lines of the corpus's statistics, for printing."""
    counts = np.add(info["class_counts_train"], info["class_counts_test"])
    smallest, largest = np.argmin(counts), np.argmax(counts)
    dropped = info["dropped"]
    return [
        f"{info['n_docs']} documents ({info['n_train']} train, {info['n_test']} test) from"
        f" {info['n_modules']} modules of {len(info['distributions'])} distributions",
        f"{len(info['classes'])} classes, from {info['classes'][smallest]} ({counts[smallest]})"
        f" to {info['classes'][largest]} ({counts[largest]})",
        f"{info['n_features']} features, {info['nnz_per_row_train']:.1f} non-zeros per training row"
        f" ({info['nnz_per_row_test']:.1f} per test row)",
        f"dropped: {dropped['short']} short, {dropped['duplicate']} duplicates,"
        f" {dropped['in_small_classes']} in {len(dropped['small_classes'])} small classes",
        f"built in {info['seconds']['total']:.1f} s (parsing {info['seconds']['parse']:.1f} s)",
    ]


def main(argv=None):
    """Build or load the corpus and print its statistics and the load time."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the small subsample")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--rebuild", action="store_true", help="build even when cached")
    parser.add_argument("--hashed", action="store_true", help="the hashed variant")
    args = parser.parse_args(argv)
    if args.rebuild:
        _cached(args.quick, args.seed, rebuild=True, hashed=args.hashed)
    start = time.perf_counter()
    X_train, X_test, _, _ = load_real_text(args.quick, args.seed, args.hashed)
    seconds = time.perf_counter() - start
    info = real_text_info(args.quick, args.seed, args.hashed)
    print("\n".join(describe(info)))
    print(f"loaded in {seconds:.1f} s: X_train {X_train.shape}, X_test {X_test.shape}")


if __name__ == "__main__":
    main()
