"""names_given: AP's greedy matching made class-agnostic, checked on boxes whose IoU is worked
out by hand (a 10x10 box shifted by s px along x overlaps (10-s)/(10+s))."""

import numpy as np
import pytest

from app.tuning.confusion import MISSED, confusion, names_given

A = [0, 0, 10, 10]
B = [100, 100, 110, 110]


def shifted(box, px):
    return [box[0] + px, box[1], box[2] + px, box[3]]


@pytest.mark.parametrize(
    ("found", "truth", "named"),
    [
        ([], [A], [MISSED]),  # nothing found
        ([(A, 0.9, "drone")], [], []),  # nothing labelled
        ([(A, 0.9, "drone")], [A], ["drone"]),
        ([(shifted(A, 3), 0.9, "bird")], [A], ["bird"]),  # IoU 7/13 = 0.54
        ([(shifted(A, 4), 0.9, "bird")], [A], [MISSED]),  # IoU 6/14 = 0.43
        # two detections on one box: the higher score names it, whatever its IoU
        ([(A, 0.4, "bird"), (shifted(A, 2), 0.8, "drone")], [A], ["drone"]),
        # one detection, two boxes: it names the one it overlaps most (IoU 9/11 against 8/12)
        ([(shifted(A, 1), 0.9, "airplane")], [A, shifted(A, 3)], ["airplane", MISSED]),
        # the second detection takes the box the first one left
        (
            [(A, 0.9, "drone"), (shifted(A, 1), 0.5, "bird")],
            [A, shifted(A, 2)],
            ["drone", "bird"],
        ),
        ([(A, 0.9, "drone"), (B, 0.2, "helicopter")], [B, A], ["helicopter", "drone"]),
    ],
)
def test_each_labelled_box_gets_the_name_of_the_detection_that_matched_it(found, truth, named):
    xyxy = np.array([box for box, _, _ in found], float).reshape(-1, 4)
    scores = np.array([score for _, score, _ in found], float)
    labels = [label for _, _, label in found]
    assert names_given(xyxy, scores, labels, np.array(truth, float).reshape(-1, 4)) == named


def test_confusion_counts_names_per_labelled_class():
    pairs = [("bird", "bird"), ("bird", "drone"), ("bird", "bird"), ("drone", MISSED)]
    table = confusion(pairs)
    assert table["bird"] == {"bird": 2, "drone": 1}
    assert table["drone"] == {MISSED: 1}
    assert "airplane" not in table
