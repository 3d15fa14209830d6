"""edtune.serve: serve a base student and its LoRA adapters locally over the OpenAI-compatible chat API.

The request shape is the one TGI multi-LoRA and vLLM `--lora-modules` accept (`model` names the adapter, images
as data: URIs), so client code tried against `edtune serve` on a laptop works unchanged against the cluster's
server; `edtune adapters smoke` (in `edtune.serve.smoke`) scores any of the three on a task split.
"""

from edtune.serve.api import AdapterSpec, ChatRequest, parse_adapter_spec

__all__ = ["AdapterSpec", "ChatRequest", "parse_adapter_spec"]
