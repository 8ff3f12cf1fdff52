"""``python -m funcpipe_rag.cli``."""

from funcpipe_rag.cli import main

main()
