"""The Detections value: columnar boxes, scores and class ids that every stage takes and returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Detections:
    """N detections in one coordinate frame (which one is the caller's contract).

    xyxy: (N, 4) float32, corners x1, y1, x2, y2.
    confidence: (N,) float32 in [0, 1].
    class_id: (N,) int64.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.confidence)
        if self.xyxy.shape != (n, 4) or self.class_id.shape != (n,):
            raise ValueError(
                f"inconsistent shapes: xyxy {self.xyxy.shape}, confidence "
                f"{self.confidence.shape}, class_id {self.class_id.shape}"
            )

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    @classmethod
    def from_arrays(cls, xyxy, confidence, class_id) -> Detections:
        """Build from array-likes, normalising dtypes and shapes."""
        return cls(
            np.asarray(xyxy, np.float32).reshape(-1, 4),
            np.asarray(confidence, np.float32).reshape(-1),
            np.asarray(class_id, np.int64).reshape(-1),
        )

    @classmethod
    def concatenate(cls, parts: list[Detections]) -> Detections:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.confidence for p in parts]),
            np.concatenate([p.class_id for p in parts]),
        )

    def __len__(self) -> int:
        return len(self.confidence)

    def __getitem__(self, index) -> Detections:
        """Select by boolean mask, index array or slice; always returns Detections."""
        if isinstance(index, int | np.integer):
            index = [index]
        return Detections(self.xyxy[index], self.confidence[index], self.class_id[index])

    def sorted_by_confidence(self) -> Detections:
        """Highest confidence first; ties keep their original order."""
        return self[np.argsort(-self.confidence, kind="stable")]
