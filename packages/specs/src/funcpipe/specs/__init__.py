"""funcpipe.specs: pipelines as data, shipped between processes without shipping code.

A ``PipelineSpec`` names registered functions by id and version and carries their params and
policies as plain data, with canonical hashes. The receiving process rebuilds it from a
``Registry`` it built in code, refusing anything outside its allow-list. Nothing is ever
resolved by import path, evaluated or unpickled. A chunk policy batches by a named size
(``NamedSize``: built in, or given to the ``Registry``), never by code carried in the spec.
"""

from ._build import batch_map_op as batch_map_op
from ._build import flat_map_op as flat_map_op
from ._build import map_op as map_op
from ._build import pipeline_spec as pipeline_spec
from ._build import sink_op as sink_op
from ._codec import DEFAULT_MAX_BYTES as DEFAULT_MAX_BYTES
from ._codec import DEFAULT_MAX_DEPTH as DEFAULT_MAX_DEPTH
from ._codec import DEFAULT_MAX_NODES as DEFAULT_MAX_NODES
from ._codec import Format as Format
from ._codec import parse as parse
from ._codec import serialize as serialize
from ._codec import spec_from_data as spec_from_data
from ._hash import canonical_hash as canonical_hash
from ._hash import seal as seal
from ._hash import verify as verify
from ._models import ErrorPolicy as ErrorPolicy
from ._models import NamedPolicy as NamedPolicy
from ._models import OpKind as OpKind
from ._models import OpPolicies as OpPolicies
from ._models import OpSpec as OpSpec
from ._models import PipelineSpec as PipelineSpec
from ._pipeline import Pipeline as Pipeline
from ._pipeline import Stage as Stage
from ._pipeline import reconstruct_pipeline as reconstruct_pipeline
from ._registry import Factory as Factory
from ._registry import Params as Params
from ._registry import Registry as Registry
from ._registry import RegistryEntry as RegistryEntry
from ._registry import batch_map_entry as batch_map_entry
from ._registry import flat_map_entry as flat_map_entry
from ._registry import map_entry as map_entry
from ._registry import sink_entry as sink_entry
from ._secrets import SecretRef as SecretRef
from ._secrets import is_secret_key as is_secret_key
from ._sizes import BUILTIN_SIZES as BUILTIN_SIZES
from ._sizes import SIZE_CHARS as SIZE_CHARS
from ._sizes import SIZE_COUNT as SIZE_COUNT
from ._sizes import NamedSize as NamedSize
from ._sizes import SizeFn as SizeFn
from ._stages import ResolvedOp as ResolvedOp
from ._stages import StageEnv as StageEnv
from ._stages import batch_stage as batch_stage
from ._stages import flat_map_stage as flat_map_stage
from ._stages import map_stage as map_stage
from ._stages import resolve_ops as resolve_ops

__all__ = [
    "BUILTIN_SIZES",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_NODES",
    "ErrorPolicy",
    "Factory",
    "Format",
    "NamedPolicy",
    "NamedSize",
    "OpKind",
    "OpPolicies",
    "OpSpec",
    "Params",
    "Pipeline",
    "PipelineSpec",
    "Registry",
    "RegistryEntry",
    "ResolvedOp",
    "SIZE_CHARS",
    "SIZE_COUNT",
    "SecretRef",
    "SizeFn",
    "Stage",
    "StageEnv",
    "batch_map_entry",
    "batch_map_op",
    "batch_stage",
    "canonical_hash",
    "flat_map_entry",
    "flat_map_op",
    "flat_map_stage",
    "is_secret_key",
    "map_entry",
    "map_op",
    "map_stage",
    "parse",
    "pipeline_spec",
    "reconstruct_pipeline",
    "resolve_ops",
    "seal",
    "serialize",
    "sink_entry",
    "sink_op",
    "spec_from_data",
    "verify",
]
