"""funcpipe.adapters.embedders: the Embedder port (defined in ``funcpipe.ports``, re-exported
here) and the input check every embedder shares (no optional dependency).

Implementations: ``funcpipe.adapters.embed.StaticEmbedder`` (extra ``[embed]``) and
``funcpipe.adapters.http.OpenAIEmbeddings`` (extra ``[http]``).
"""

from __future__ import annotations

from funcpipe.ports import Embedder, check_texts

__all__ = ["Embedder", "check_texts"]
