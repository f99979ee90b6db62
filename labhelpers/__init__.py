"""labhelpers: the helper library of the codepipeline lab. `import labhelpers as lh; lab = lh.connect()`."""

from .errors import DeclarationError, EndpointError, LabError
from .lab import Lab, Names, connect

__all__ = ["connect", "Lab", "Names", "LabError", "EndpointError", "DeclarationError"]
