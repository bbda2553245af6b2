"""Workloads: the Network IR, the YAML format, the model zoo and PyTorch import."""

from enasim.workload.ir import Network, NetworkBuilder, Node
from enasim.workload.torch_format import from_torch, torch_weights
from enasim.workload.zoo import load_workload, zoo_names

__all__ = [
    "Network",
    "NetworkBuilder",
    "Node",
    "from_torch",
    "load_workload",
    "torch_weights",
    "zoo_names",
]
