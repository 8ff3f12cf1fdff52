"""funcpipe_rag.app."""
