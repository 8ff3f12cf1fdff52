"""funcpipe_rag.pipelines."""
