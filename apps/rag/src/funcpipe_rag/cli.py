"""funcpipe_rag.cli."""
