"""The categorical colours used for classes in the widget and in reports."""

from __future__ import annotations

# Tableau 10 followed by its light variants: distinct on light and dark backgrounds.
TAB20 = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
    "#a0cbe8", "#ffbe7d", "#ff9d9a", "#8cd17d", "#b6992d",
    "#f1ce63", "#d4a6c8", "#fabfd2", "#d7b5a6", "#79706e",
]


def class_colors(n_classes: int) -> list[str]:
    """One hex colour per class, cycling through 20 colours for more classes."""
    return [TAB20[i % len(TAB20)] for i in range(n_classes)]
