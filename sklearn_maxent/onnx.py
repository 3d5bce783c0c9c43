"""ONNX export of :class:`~sklearn_maxent.MaxEntClassifier` through skl2onnx.

Importing this module registers a converter for ``MaxEntClassifier`` with
skl2onnx, after which ``skl2onnx.to_onnx`` converts the classifier, alone or
inside a ``Pipeline``, like any scikit-learn classifier::

    import sklearn_maxent.onnx  # registers the converter
    from skl2onnx import to_onnx
    onx = to_onnx(model, X[:1].astype("float32"))

Registration is explicit (importing ``sklearn_maxent`` does not import
skl2onnx, which would add onnx and protobuf to every import of the package)
and idempotent. It needs the ``onnx`` extra: ``pip install "sklearn-maxent[onnx]"``.

The graph uses standard ONNX operators only: ``Gemm`` computes the scores
``X W + b`` (for two classes with a zero column in front, the first class's
fixed score), ``Softmax`` the probabilities and ``ArgMax`` followed by
``Gather`` on ``classes_`` the labels, in the same order and with the same
tie-breaking (first maximum) as :meth:`MaxEntClassifier.predict`. The weights
are stored in the float type of the graph's input (float32 or float64), so a
float64 input gives float64 probabilities.

Options are those of skl2onnx's classifiers: ``zipmap`` (True, the default:
probabilities as a list of dictionaries; False: a tensor; ``"columns"``: one
output per class) and ``nocl`` (True: class indices instead of ``classes_``);
and ``offset`` (True: a second graph input, ``offset``, added to the scores
before ``Softmax`` and ``ArgMax``, as the ``offset`` of
:meth:`MaxEntClassifier.predict_proba`). The offset input is in the graph's
float type, of shape ``[N, n_classes]``, or ``[N, 1]`` for two classes: the
model's single score, that of ``classes_[1]`` (``decision_function``'s
column). It works alone or inside a ``Pipeline``, where the parser of
:func:`maxent_classifier_parser` declares the input. ``penalty_factor``,
``bounds`` and ``coef_prior`` change only ``coef_``, so models fitted with
them export as any other.
Labels are int64 (integer or boolean ``classes_``, and floats with integral
values) or strings; other label types cannot be converted.
"""

import numpy as np
from scipy import sparse

try:
    from skl2onnx import update_registered_converter
    from skl2onnx._parse import _parse_sklearn_classifier
    from skl2onnx.common.data_types import (
        BooleanTensorType,
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )
    from skl2onnx.common.utils import check_input_and_output_numbers, check_input_and_output_types
    from skl2onnx.common.utils_classifier import get_label_classes
    from skl2onnx.proto import onnx_proto
except ModuleNotFoundError as exc:  # pragma: no cover - exercised only without the extra
    # Only a missing package is the extra's business; an installed but incompatible
    # skl2onnx (1.18 imports onnx.mapping, which recent onnx no longer has) raises as is.
    if exc.name is None or exc.name.partition(".")[0] not in {"skl2onnx", "onnx", "google"}:
        raise
    raise ImportError(
        f"sklearn_maxent.onnx needs skl2onnx (and onnxruntime to run the exported model), "
        f'but {exc.name} is not installed: pip install "sklearn-maxent[onnx]"'
    ) from exc

from ._classifier import MaxEntClassifier

__all__ = [
    "convert_maxent_classifier",
    "maxent_classifier_parser",
    "maxent_classifier_shape_calculator",
    "register",
]

_ALIAS = "SklearnMaxEntClassifier"
_OPTIONS = {"zipmap": [True, False, "columns"], "nocl": [True, False], "offset": [False, True]}


def _onnx_labels(classes):
    """``classes`` as an int64 or a string array, as ONNX labels (and ZipMap keys) must be."""
    classes = np.asarray(classes)
    if classes.dtype == np.bool_ or np.issubdtype(classes.dtype, np.integer):
        return classes.astype(np.int64)
    if np.issubdtype(classes.dtype, np.floating):
        labels = classes.astype(np.int64)
        if not np.array_equal(labels, classes):
            raise NotImplementedError(
                f"ONNX labels are int64 or strings, but classes_ holds non-integral floats "
                f"{classes.tolist()}; train on integer or string labels, or convert with "
                "options={'nocl': True} to output class indices."
            )
        return labels
    if all(isinstance(c, str) for c in classes.tolist()):
        return classes.astype(str)
    raise NotImplementedError(
        f"ONNX labels are int64 or strings, but classes_ has dtype {classes.dtype} "
        f"(first class: {classes[0]!r}); convert with options={{'nocl': True}} to output class indices."
    )


def maxent_classifier_parser(scope, model, inputs, custom_parsers=None):
    """skl2onnx parser: scikit-learn classifiers' parser, plus the graph input ``offset`` when asked for.

    With the option ``offset=True`` it declares an input named ``offset``
    (``offset1``... if that name is taken) in the float type of the
    classifier's input (float64 for float64, float32 otherwise), of shape
    ``[N, n_classes]`` or ``[N, 1]`` for two classes, and passes it to the
    converter as the operator's second input.

    Parameters
    ----------
    scope : skl2onnx.common._topology.Scope
        The root scope, whose input variables become the graph's inputs.
    model : MaxEntClassifier
        The fitted classifier.
    inputs : list of skl2onnx.common._topology.Variable
        Its input (the features, or a pipeline step's output).
    custom_parsers : dict or None
        Passed on to skl2onnx's classifier parser.

    Returns
    -------
    outputs : list of skl2onnx.common._topology.Variable
        The label and probability outputs (through ZipMap by default).

    Examples
    --------
    skl2onnx calls it during conversion; the option asks for the input:

    >>> import numpy as np
    >>> import sklearn_maxent.onnx
    >>> from skl2onnx import to_onnx
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_maxent import MaxEntClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MaxEntClassifier(alpha=1e-2, random_state=0).fit(X, y)
    >>> onx = to_onnx(clf, X[:1].astype(np.float32), options={"offset": True, "zipmap": False})
    >>> [(i.name, i.type.tensor_type.shape.dim[1].dim_value) for i in onx.graph.input]
    [('X', 4), ('offset', 3)]
    """
    if scope.get_options(model, {"offset": False})["offset"]:
        float_type = DoubleTensorType if isinstance(inputs[0].type, DoubleTensorType) else FloatTensorType
        offset = scope.declare_local_variable("offset", float_type(shape=[None, model.coef_.shape[0]]))
        inputs = [*inputs, offset]  # a new list: for a classifier alone, inputs is the one appended to
        # skl2onnx makes the root scope's input variables the graph's inputs; its parsers take them
        # only from the initial types, so appending is the one way to add an input from a pipeline step.
        scope.input_variables.append(offset)
    return _parse_sklearn_classifier(scope, model, inputs, custom_parsers=custom_parsers)


def maxent_classifier_shape_calculator(operator):
    """skl2onnx shape calculator: the types and shapes of the label and probability outputs.

    Labels are ``int64`` or ``string`` of shape ``[N]``; probabilities are
    ``[N, n_classes]`` in float64 for a float64 input, float32 otherwise.

    Parameters
    ----------
    operator : skl2onnx.common._topology.Operator
        The operator of a fitted ``MaxEntClassifier``, with one input (two
        with the ``offset`` option) and two outputs (label, probabilities).

    Examples
    --------
    skl2onnx calls it during conversion; it is not called directly:

    >>> import sklearn_maxent.onnx
    >>> from skl2onnx import get_model_alias
    >>> from sklearn_maxent import MaxEntClassifier
    >>> get_model_alias(MaxEntClassifier)
    'SklearnMaxEntClassifier'
    """
    check_input_and_output_numbers(operator, input_count_range=[1, 2], output_count_range=2)
    check_input_and_output_types(
        operator,
        good_input_types=[FloatTensorType, DoubleTensorType, Int64TensorType, BooleanTensorType],
    )
    n_rows = operator.inputs[0].get_first_dimension()
    labels = _onnx_labels(get_label_classes(operator.scope_inst, operator.raw_operator))
    label_type = StringTensorType if labels.dtype.kind == "U" else Int64TensorType
    proba_type = (
        DoubleTensorType if isinstance(operator.inputs[0].type, DoubleTensorType) else FloatTensorType
    )
    operator.outputs[0].type = label_type(shape=[n_rows])
    operator.outputs[1].type = proba_type(shape=[n_rows, len(labels)])


def convert_maxent_classifier(scope, operator, container):
    """skl2onnx converter: the ONNX graph of a fitted ``MaxEntClassifier``.

    ``Gemm`` gives the scores ``X W + b`` (two classes: ``[0, X w + b]``),
    plus the offset input if there is one (:func:`maxent_classifier_parser`),
    ``Softmax`` the probabilities, ``ArgMax`` and ``Gather`` the labels.

    Parameters
    ----------
    scope : skl2onnx.common._topology.Scope
    operator : skl2onnx.common._topology.Operator
        The operator of a fitted ``MaxEntClassifier``.
    container : skl2onnx.common._container.ModelComponentContainer
        Receives the nodes and initializers.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> import sklearn_maxent.onnx
    >>> from skl2onnx import to_onnx
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_maxent import MaxEntClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> X = X.astype(np.float32)
    >>> clf = MaxEntClassifier(alpha=1e-2, random_state=0).fit(X, y)
    >>> onx = to_onnx(clf, X[:1], options={"zipmap": False})
    >>> session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    >>> labels, proba = session.run(None, {session.get_inputs()[0].name: X[[0, 50, 100]]})
    >>> labels.tolist()
    [0, 1, 2]
    >>> bool(np.abs(proba - clf.predict_proba(X[[0, 50, 100]])).max() < 1e-5)
    True
    """
    model = operator.raw_operator
    labels = _onnx_labels(get_label_classes(scope, model))
    input_type = operator.inputs[0].type
    if isinstance(input_type, DoubleTensorType):
        proto_dtype, dtype = onnx_proto.TensorProto.DOUBLE, np.float64
    else:
        proto_dtype, dtype = onnx_proto.TensorProto.FLOAT, np.float32

    features = operator.inputs[0].full_name
    if not isinstance(input_type, (FloatTensorType, DoubleTensorType)):
        cast = scope.get_unique_variable_name("cast_input")
        container.add_node(
            "Cast", features, cast, name=scope.get_unique_operator_name("Cast"), to=proto_dtype
        )
        features = cast

    # Scores of all classes; for two classes the first one's is fixed at 0,
    # which a zero column of weights and a zero intercept give exactly.
    # A sparsified coef_ is written dense (Gemm takes dense weights); the model is left as it is.
    coef = model.coef_.toarray() if sparse.issparse(model.coef_) else model.coef_
    coef = np.asarray(coef, dtype=dtype).T
    intercept = np.asarray(model.intercept_, dtype=dtype).reshape(-1)
    if coef.shape[1] == 1:
        coef = np.hstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([np.zeros_like(intercept), intercept])
    coef_name = scope.get_unique_variable_name("coef")
    intercept_name = scope.get_unique_variable_name("intercept")
    container.add_initializer(coef_name, proto_dtype, list(coef.shape), coef.ravel().tolist())
    container.add_initializer(intercept_name, proto_dtype, list(intercept.shape), intercept.tolist())

    scores = scope.get_unique_variable_name("scores")
    container.add_node(
        "Gemm", [features, coef_name, intercept_name], scores, name=scope.get_unique_operator_name("Gemm")
    )
    if len(operator.inputs) == 2:
        binary = model.coef_.shape[0] == 1
        scores = _with_offset(scope, container, scores, operator.inputs[1].full_name, binary, proto_dtype)
    container.add_node(
        "Softmax",
        scores,
        operator.outputs[1].full_name,
        name=scope.get_unique_operator_name("Softmax"),
        axis=1,
    )
    best = scope.get_unique_variable_name("best_class")
    container.add_node(
        "ArgMax", scores, best, name=scope.get_unique_operator_name("ArgMax"), axis=1, keepdims=0
    )
    classes_name = scope.get_unique_variable_name("classes")
    if labels.dtype.kind == "U":
        container.add_initializer(
            classes_name,
            onnx_proto.TensorProto.STRING,
            [len(labels)],
            [label.encode("utf-8") for label in labels.tolist()],
        )
    else:
        container.add_initializer(
            classes_name, onnx_proto.TensorProto.INT64, [len(labels)], [int(i) for i in labels]
        )
    container.add_node(
        "Gather",
        [classes_name, best],
        operator.outputs[0].full_name,
        name=scope.get_unique_operator_name("Gather"),
        axis=0,
    )


def _with_offset(scope, container, scores, offset, binary, proto_dtype):
    """The name of ``scores + offset``; an offset of one column (two classes) becomes ``[0, offset]``.

    The scores of two classes have the first one's fixed zero in front, so a
    single offset column is moved to the second by a product with ``[[0, 1]]``.
    """
    if binary:
        spread = scope.get_unique_variable_name("offset_to_second_class")
        container.add_initializer(spread, proto_dtype, [1, 2], [0.0, 1.0])
        spread_offset = scope.get_unique_variable_name("offset_scores")
        container.add_node(
            "MatMul", [offset, spread], spread_offset, name=scope.get_unique_operator_name("MatMul")
        )
        offset = spread_offset
    shifted = scope.get_unique_variable_name("scores_with_offset")
    container.add_node("Add", [scores, offset], shifted, name=scope.get_unique_operator_name("Add"))
    return shifted


def register():
    """Register the ``MaxEntClassifier`` converter with skl2onnx (done on import; idempotent).

    Examples
    --------
    >>> from sklearn_maxent.onnx import register
    >>> register()
    """
    update_registered_converter(
        MaxEntClassifier,
        _ALIAS,
        maxent_classifier_shape_calculator,
        convert_maxent_classifier,
        parser=maxent_classifier_parser,
        options=_OPTIONS,
    )


register()
