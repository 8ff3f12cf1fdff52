"""funcpipe.adapters.embed: the offline static embedder.

Extra ``[embed]``: wordllama, numpy, tokenizers, safetensors.

``StaticEmbedder(*, dim=256, batch_size=64, executor=None)`` implements
``funcpipe.adapters.embedders.Embedder``.
"""

# The guard runs before the imports below, so a missing extra names the install to run.
# ruff: noqa: E402
from funcpipe.adapters._extras import require_extra

require_extra("embed", "wordllama", "numpy", "tokenizers", "safetensors")

from ._static import MODEL_NAME as MODEL_NAME
from ._static import EmptyTextError as EmptyTextError
from ._static import StaticEmbedder as StaticEmbedder

__all__ = ["MODEL_NAME", "EmptyTextError", "StaticEmbedder"]
