"""The softmax model: its math, the objective, the penalty, the dual and its certificate."""
