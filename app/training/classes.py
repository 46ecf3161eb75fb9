"""The classes a model is trained for: from the labels or --classes, with classes of too few
boxes merged or dropped (and said so), and the base classes each one starts from."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..tuning.labels import LabelledImage

MIN_BOXES = 10  # fewer boxes than this teach a class nothing of its own


class ClassError(ValueError):
    """--classes names what the labels do not have; the message says what they have."""


@dataclass(frozen=True)
class ClassPlan:
    """names: the output classes; of_label: label class id -> output index (absent: dropped);
    sources: per output class, the base model's class indices it starts from; notes: what was
    merged or dropped, one line each."""

    names: tuple[str, ...]
    of_label: dict[int, int]
    sources: list[list[int]]
    notes: list[str]

    def relabel(self, image: LabelledImage) -> tuple[np.ndarray, np.ndarray]:
        """(G', 4) boxes and (G',) output classes of one image: dropped classes left out."""
        ids = np.array([self.of_label.get(int(c), -1) for c in image.truth_class], np.int64)
        keep = ids >= 0
        return image.truth_xyxy[keep], ids[keep]


def parse_spec(raw: str) -> list[tuple[str, list[str]]]:
    """`car,bus` (keep these) or `vehicle=car+truck+bus,cyclist` (merge into a new name)."""
    entries = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        name, _, members = item.partition("=")
        sources = [m.strip() for m in members.split("+") if m.strip()] if members else [name]
        entries.append((name.strip(), sources))
    if not entries:
        raise ClassError(f"--classes {raw!r}: name at least one class")
    return entries


def plan_classes(
    images: list[LabelledImage],
    label_names: dict[int, str],
    base_names: tuple[str, ...],
    spec: str | None = None,
) -> ClassPlan:
    """Decide the output classes. Without spec, every labelled class; a class with fewer than
    MIN_BOXES boxes is merged into the most common one, a class with none is dropped."""
    counts = Counter(int(c) for image in images for c in image.truth_class)
    names = dict(label_names)
    for class_id in counts:
        names.setdefault(class_id, f"class_{class_id}")
    by_name = {name.lower(): class_id for class_id, name in names.items()}
    notes: list[str] = []
    if spec:
        groups = _groups_from_spec(parse_spec(spec), by_name, names)
    else:
        groups = [(names[i], [i]) for i in sorted(names)]
    kept = [(name, ids) for name, ids in groups if sum(counts[i] for i in ids)]
    notes += [
        f"{name}: no boxes in the labels, dropped"
        for name, ids in groups
        if not sum(counts[i] for i in ids)
    ]
    if not kept:
        raise ClassError("no labelled box belongs to the classes asked for")
    kept = _merge_small(kept, counts, notes)
    of_label = {i: k for k, (_, ids) in enumerate(kept) for i in ids}
    unused = sorted(set(counts) - set(of_label))
    if unused:
        left = ", ".join(f"{names[i]} ({counts[i]})" for i in unused)
        notes.append(f"not trained (not in --classes): {left}")
    base_index = {name.lower(): i for i, name in enumerate(base_names)}
    sources = [
        sorted(
            {
                base_index[n]
                for n in [name.lower()] + [names[i].lower() for i in ids]
                if n in base_index
            }
        )
        for name, ids in kept
    ]
    return ClassPlan(tuple(name for name, _ in kept), of_label, sources, notes)


def _groups_from_spec(entries, by_name: dict[str, int], names: dict[int, str]):
    groups = []
    for name, members in entries:
        unknown = [m for m in members if m.lower() not in by_name and not m.isdigit()]
        if unknown:
            known = ", ".join(names[i] for i in sorted(names)) or "no named classes"
            raise ClassError(f"--classes: the labels have no class {unknown[0]!r}: {known}")
        ids = [int(m) if m.isdigit() else by_name[m.lower()] for m in members]
        groups.append((name, ids))
    return groups


def _merge_small(kept, counts: Counter, notes: list[str]):
    """Classes with fewer than MIN_BOXES boxes go into the class with most boxes."""
    sizes = [sum(counts[i] for i in ids) for _, ids in kept]
    biggest = int(np.argmax(sizes))
    merged = [list(entry) for entry in kept]
    for index, ((name, ids), size) in enumerate(zip(kept, sizes, strict=True)):
        if index != biggest and size < MIN_BOXES:
            merged[biggest][1] = merged[biggest][1] + ids
            notes.append(
                f"{name}: {size} boxes, too few to learn alone (under {MIN_BOXES}): merged "
                f"into {kept[biggest][0]}"
            )
            merged[index] = None
    return [(name, ids) for name, ids in (m for m in merged if m is not None)]
