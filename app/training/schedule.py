"""How a run's weights learn, in the words of `train`'s flags (--lr, --freeze-backbone,
--freeze-neck, --weigh-classes, --paste): what the training record and a checkpoint say, and what
--resume and --settings-from check. No torch here: the settings check reads it without training."""

from __future__ import annotations

from dataclasses import dataclass

LEARNING_RATE = 5e-4  # AdamW's peak, reached after the warm-up; cosine down from there


@dataclass(frozen=True)
class Schedule:
    """How the weights learn: the peak learning rate (--lr) and whether the backbone learns
    at all (--freeze-backbone: it keeps the base model's features, and the backward pass stops
    at the neck, so a step costs less), whether the neck learns (--freeze-neck, which freezes
    the backbone too: only the head learns, and a step costs less again), and whether the
    class loss of a box weighs by its class's rarity (--weigh-classes: class balance at no
    cost in epoch time); and what it learns from: up to how many objects of other images are
    pasted into a sample (--paste, paste.py)."""

    peak_lr: float = LEARNING_RATE
    freeze_backbone: bool = False
    weigh_classes: bool = False
    freeze_neck: bool = False
    paste: int = 0  # --paste: the most objects of other images pasted into a sample

    @property
    def backbone_frozen(self) -> bool:
        """--freeze-backbone, or --freeze-neck (which freezes the backbone too)."""
        return self.freeze_backbone or self.freeze_neck

    def record(self) -> dict:
        """The training record's words for it (and a checkpoint's, checked by --resume)."""
        backbone = "frozen" if self.backbone_frozen else "trained"
        neck = "frozen" if self.freeze_neck else "trained"
        class_loss = "weighted" if self.weigh_classes else "plain"
        return {
            "learning_rate": self.peak_lr,
            "backbone": backbone,
            "neck": neck,
            "class_loss": class_loss,
            "paste": self.paste,
        }

    def mismatch(self, record: dict) -> str | None:
        """What differs from a record's schedule, in the words of the flags (a record older
        than these fields had the defaults)."""
        mine = self.record()
        theirs = Schedule().record() | {k: v for k, v in record.items() if k in mine}
        if theirs["learning_rate"] != mine["learning_rate"]:
            return (
                f"trained with learning rate {theirs['learning_rate']:g}; this run has "
                f"{self.peak_lr:g} (give the same --lr)"
            )
        if theirs["backbone"] != mine["backbone"]:
            return (
                f"trained with the backbone {theirs['backbone']}; this run's is "
                f"{mine['backbone']} (give --freeze-backbone to both or neither)"
            )
        if theirs["neck"] != mine["neck"]:
            return (
                f"trained with the neck {theirs['neck']}; this run's is {mine['neck']} "
                "(give --freeze-neck to both or neither)"
            )
        if theirs["paste"] != mine["paste"]:
            return (
                f"trained with {_pasting(theirs['paste'])}; this run has "
                f"{_pasting(self.paste)} (give the same --paste)"
            )
        if theirs["class_loss"] != mine["class_loss"]:
            return (
                f"trained with the class loss {theirs['class_loss']}; this run's is "
                f"{mine['class_loss']} (give --weigh-classes to both or neither)"
            )
        return None


def _pasting(most: int) -> str:
    return f"up to {most} pasted objects a sample" if most else "no pasted objects"
