"""funcpipe_rag.adapters."""
