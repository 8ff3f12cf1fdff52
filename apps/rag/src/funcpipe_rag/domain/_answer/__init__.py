"""Answers with citations: sentences, scores, MMR, the extractive answer, marker handling."""

from ._extractive import DEFAULT_FLOOR as DEFAULT_FLOOR
from ._extractive import Candidate as Candidate
from ._extractive import candidates as candidates
from ._extractive import extractive_answer as extractive_answer
from ._extractive import relevance as relevance
from ._score import cosine as cosine
from ._score import mmr as mmr
from ._score import terms as terms
from ._sentences import sentence_spans as sentence_spans
from ._sentences import sentences as sentences
from ._types import MODE_EXTRACTIVE as MODE_EXTRACTIVE
from ._types import MODE_MODEL as MODE_MODEL
from ._types import Answer as Answer
from ._types import Citation as Citation
from ._types import Usage as Usage
from ._types import refusal as refusal
