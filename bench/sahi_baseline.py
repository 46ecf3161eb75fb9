"""The SAHI 0.12 baseline: a minimal DetectionModel around our session, and a sliced call."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from app.detector import DetectOptions, Model
from app.detector.views import fill_slot, view_detections


def sahi_model(model: Model, options: DetectOptions):
    """A minimal SAHI DetectionModel around our loaded session (same letterbox, decode, NMS)."""
    from sahi.models.base import DetectionModel
    from sahi.prediction import ObjectPrediction
    from sahi.utils.compatibility import fix_full_shape_list, fix_shift_amount_list

    class OnnxSessionModel(DetectionModel):
        def set_model(self, model, **kwargs) -> None:
            self.model = model

        def perform_inference(self, image: np.ndarray) -> None:
            info = self.model.info
            batch = np.empty((1, 3, info.input_wh[1], info.input_wh[0]), np.float32)
            box = fill_slot(image, batch[0], info)
            output = self.model.session.run(None, {info.input_name: batch})[0]
            view = replace(options, confidence=self.confidence_threshold)
            # Clipped at 0 only, like SAHI's own wrappers; the far edges are clipped below.
            self._original_predictions = view_detections(output, box, (2**31, 2**31), view, info)

        def _create_object_prediction_list_from_original_predictions(
            self, shift_amount_list=None, full_shape_list=None
        ) -> None:
            shift = [int(v) for v in fix_shift_amount_list(shift_amount_list)[0]]
            full = (fix_full_shape_list(full_shape_list) or [None])[0]
            found, names, predictions = self._original_predictions, self.model.info.class_names, []
            for xyxy, score, class_id in zip(
                found.xyxy.tolist(), found.confidence.tolist(), found.class_id.tolist(), strict=True
            ):
                if full is not None:  # as sahi.models.ultralytics does it
                    limits = [full[1], full[0], full[1], full[0]]  # full is (height, width)
                    xyxy = [min(limit, v) for limit, v in zip(limits, xyxy, strict=True)]
                if xyxy[0] < xyxy[2] and xyxy[1] < xyxy[3]:
                    predictions.append(
                        ObjectPrediction(xyxy, class_id, names[class_id], None, score, shift, full)
                    )
            self._object_prediction_list_per_image = [predictions]

    mapping = {str(i): name for i, name in enumerate(model.info.class_names)}
    return OnnxSessionModel(
        model=model, confidence_threshold=options.confidence, category_mapping=mapping
    )


def run_sahi(
    detector,
    image: np.ndarray | str,
    tile_wh: tuple[int, int],
    settings: dict,
    *,
    sliced: bool = True,
) -> list:
    """SAHI's get_sliced_prediction; settings holds its overlap/merge keyword arguments.
    sliced=False: SAHI's get_prediction on the whole image (what ours does for an image its
    slicing mode "auto" leaves whole)."""
    from sahi.predict import get_prediction, get_sliced_prediction

    if not sliced:
        return get_prediction(image, detector, verbose=0).object_prediction_list
    result = get_sliced_prediction(
        image,
        detector,
        slice_height=tile_wh[1],
        slice_width=tile_wh[0],
        verbose=0,
        force_postprocess_type=True,  # else SAHI logs that it switches to NMS below conf 0.1
        **settings,
    )
    return result.object_prediction_list
