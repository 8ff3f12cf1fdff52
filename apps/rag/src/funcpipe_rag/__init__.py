"""funcpipe_rag: keep a Qdrant collection in sync with documents, and search it."""
