"""Writers for `python -m app detect`: JSON lines, one COCO file, or YOLO .txt labels.

Each takes (relative path, POST /detect response body) pairs, so files carry exactly what the
API answers, and writes as it goes (JSON, YOLO) or at the end (COCO).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO


class JsonWriter:
    """stdout: one JSON object per image (JSON lines); --out: <out>/<path>.json per image."""

    def __init__(self, out_dir: Path | None, class_names: tuple[str, ...], stream: TextIO):
        self.out_dir, self.stream = out_dir, stream

    def add(self, relative: Path, body: dict) -> None:
        record = {"file": relative.as_posix(), **body}
        if self.out_dir is None:
            self.stream.write(json.dumps(record) + "\n")
            return
        target = self.out_dir / relative.with_suffix(".json")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")

    def close(self) -> None:
        self.stream.flush()


class CocoWriter:
    """One COCO detection file (images, annotations with score, categories): <out>/coco.json
    or stdout. category_id is the model's class_id, so ids match the API's."""

    def __init__(self, out_dir: Path | None, class_names: tuple[str, ...], stream: TextIO):
        self.out_dir, self.stream = out_dir, stream
        self.doc = {
            "images": [],
            "annotations": [],
            "categories": [{"id": i, "name": name} for i, name in enumerate(class_names)],
        }

    def add(self, relative: Path, body: dict) -> None:
        image_id = len(self.doc["images"]) + 1
        size = body["image"]
        self.doc["images"].append({"id": image_id, "file_name": relative.as_posix(), **size})
        for found in body["detections"]:
            box = found["box"]
            width, height = box["x2"] - box["x1"], box["y2"] - box["y1"]
            self.doc["annotations"].append(
                {
                    "id": len(self.doc["annotations"]) + 1,
                    "image_id": image_id,
                    "category_id": found["class_id"],
                    "bbox": [box["x1"], box["y1"], round(width, 2), round(height, 2)],
                    "area": round(width * height, 2),
                    "score": found["confidence"],
                    "iscrowd": 0,
                }
            )

    def close(self) -> None:
        text = json.dumps(self.doc) + "\n"
        if self.out_dir is None:
            self.stream.write(text)
            self.stream.flush()
        else:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "coco.json").write_text(text, encoding="utf-8")


class YoloWriter:
    """<out>/<path>.txt per image, `class_id cx cy w h confidence` normalised to [0, 1] (the
    Ultralytics save_txt + save_conf layout), and <out>/classes.txt. Needs --out."""

    def __init__(self, out_dir: Path | None, class_names: tuple[str, ...], stream: TextIO):
        if out_dir is None:
            raise ValueError("--format yolo writes one .txt per image: give --out DIR")
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "classes.txt").write_text("\n".join(class_names) + "\n", encoding="utf-8")

    def add(self, relative: Path, body: dict) -> None:
        width_px, height_px = body["image"]["width"], body["image"]["height"]
        lines = []
        for found in body["detections"]:
            box = found["box"]
            cx = (box["x1"] + box["x2"]) / 2 / width_px
            cy = (box["y1"] + box["y2"]) / 2 / height_px
            w = (box["x2"] - box["x1"]) / width_px
            h = (box["y2"] - box["y1"]) / height_px
            lines.append(
                f"{found['class_id']} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f} {found['confidence']:.4f}"
            )
        target = self.out_dir / relative.with_suffix(".txt")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(line + "\n" for line in lines), encoding="utf-8")

    def close(self) -> None:
        pass


WRITERS = {"json": JsonWriter, "coco": CocoWriter, "yolo": YoloWriter}


def make_writer(fmt: str, out_dir: Path | None, class_names: tuple[str, ...], stream=None):
    return WRITERS[fmt](out_dir, class_names, stream or sys.stdout)
