"""The profiles that shrink a preset for a quick run: fewer and smaller images, fewer epochs, a small model."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    """A way to shrink a preset: fewer and smaller images, fewer epochs, a small model of the same family."""

    name: str
    epochs: int | None = None
    train_subset: int | None = None
    test_subset: int | None = None
    unlabelled_subset: int | None = None
    max_image_size: int | None = None
    batch_size: int | None = None
    shrink_arch: bool = False


PROFILES: dict[str, Profile] = {
    "full": Profile("full"),
    "smoke": Profile("smoke", epochs=1, train_subset=512, test_subset=256, unlabelled_subset=512, max_image_size=32,
                     batch_size=64, shrink_arch=True),
}
