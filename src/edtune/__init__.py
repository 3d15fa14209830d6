"""edtune: adapt a generic large multimodal model to a task by learning from its mistakes."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("edtune")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+src"

__all__ = ["__version__"]
