"""People for tests: one user per role (the store checks roles, not the accounts table), and a
store filled with the bundled samples as approved corrections."""
import numpy as np
from PIL import Image

from lungseg_core.people.access_control import User

ANN = User("ann", frozenset({"annotator"}))
ANN2 = User("amy", frozenset({"annotator"}))
REV = User("rev", frozenset({"reviewer"}))
REV2 = User("rita", frozenset({"reviewer"}))
ADMIN = User("root", frozenset({"admin"}))
NOBODY = User("visitor", frozenset())


def approved_samples(store, mirrored: bool = False):  # type: ignore[no-untyped-def]
    """The four samples saved by ANN (submitted) and approved by REV; `mirrored` flips them, which
    makes new X-rays for a store that already holds the originals."""
    from lungseg_core import DEFAULT_MODEL
    from lungseg_core.models.samples import list_samples

    for s in list_samples():
        image = np.asarray(Image.open(s.image_path))
        truth = np.asarray(Image.open(s.mask_path)) > 127
        if mirrored:
            image, truth = np.ascontiguousarray(image[:, ::-1]), np.ascontiguousarray(truth[:, ::-1])
        rec = store.save_correction(image, truth, truth, model_name=DEFAULT_MODEL, model_version="v", actor=ANN,
                                    status="submitted")
        store.review(rec.id, "approve", actor=REV)
    return store
