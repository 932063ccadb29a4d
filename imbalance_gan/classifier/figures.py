"""Figures of one classifier run, drawn with matplotlib's Agg canvas (no display): the test
confusion matrix, which TensorBoard shows and the report embeds."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def new_figure(width: float, height: float) -> Figure:
    """A figure on an Agg canvas, ``width`` x ``height`` inches."""
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def confusion_figure(matrix: np.ndarray, title: str) -> Figure:
    """The confusion matrix (rows = true class), coloured by row share, annotated with counts (also logged to TensorBoard)."""
    matrix = np.asarray(matrix, dtype=float)
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1e-12)
    k = matrix.shape[0]
    fig = new_figure(8.0, 7.0)
    ax = fig.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    integral = np.allclose(matrix, np.round(matrix))
    for i in range(k):
        for j in range(k):
            text = f"{matrix[i, j]:.0f}" if integral else f"{matrix[i, j]:.1f}"
            color = "white" if share[i, j] > 0.5 else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color=color)
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xlabel("predicted class (digit)")
    ax.set_ylabel("true class (digit)")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="share of the true class (row-normalised)")
    return fig
