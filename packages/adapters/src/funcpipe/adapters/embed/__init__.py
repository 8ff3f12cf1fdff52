"""funcpipe.adapters.embed: the offline static embedder (extra ``[embed]``: wordllama, numpy).

``StaticEmbedder(*, dim=256, batch_size=64, executor=None)`` implements
``funcpipe.adapters.embedders.Embedder``.
"""

from ._static import MODEL_NAME as MODEL_NAME
from ._static import EmptyTextError as EmptyTextError
from ._static import StaticEmbedder as StaticEmbedder

__all__ = ["MODEL_NAME", "EmptyTextError", "StaticEmbedder"]
