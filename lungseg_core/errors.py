"""Typed errors whose messages a user can act on (shown as-is in the UI and CLI)."""


class LungSegError(Exception):
    """Base class for every error this package raises on purpose."""


class ImageReadError(LungSegError, ValueError):
    """The uploaded bytes are not an X-ray we can read; the message says why and what to do."""


class MaskError(LungSegError, ValueError):
    """A mask (ground truth or correction) cannot be used as given."""


class UnknownModelError(LungSegError, KeyError):
    """A model name that is not registered; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError would quote the message; show it plainly
        return str(self.args[0]) if self.args else ""


class WeightsNotFoundError(LungSegError, FileNotFoundError):
    """A registered model whose trained weights are not present."""
